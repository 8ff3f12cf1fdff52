"""funcpipe-rag over PDFs: pages/s of the ingest (extraction in worker processes, chunking,
the default embedder, the embedded store) against the extractor alone on the same files in
this process, with ``--jobs 1`` and ``--jobs 2``, and against the ingest of the same text
as ``.txt`` files (the pipeline without extraction: embedding and writes bound it).

The files are made here (fpdf2): PDFS documents of PAGES pages of ~1,800 characters each.
Both sides of each ratio run in this process run, on the same files; each ingest starts from
an empty store and its figure includes starting its worker processes. The machine may be
shared: compare ratios, and read them with the load average printed with them."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from _harness import Row
from fpdf import FPDF
from funcpipe.result import Ok
from funcpipe_rag.adapters.extract import extract_pdf
from funcpipe_rag.app import Settings, run_ingest
from funcpipe_rag.domain import Limits
from funcpipe_rag.pipelines import DEFAULT_SETTINGS

PDFS, PAGES = 24, 20
WORDS = [
    "stream",
    "bounded",
    "map",
    "backpressure",
    "retry",
    "policy",
    "jitter",
    "chunk",
    "offset",
    "page",
    "label",
    "store",
    "vector",
    "search",
    "hybrid",
    "dense",
    "sparse",
    "commit",
    "marker",
    "version",
    "spec",
    "hash",
    "worker",
    "process",
    "pool",
    "extract",
    "text",
    "reading",
    "order",
    "header",
    "footer",
    "ligature",
    "hyphen",
    "document",
    "citation",
    "span",
]


def make_corpus(root: Path) -> int:
    """Write the PDFs under ``root``; the number of pages."""
    rng = random.Random(7)
    root.mkdir(parents=True, exist_ok=True)
    for n in range(PDFS):
        pdf = FPDF()
        pdf.set_font("helvetica", size=10)
        for p in range(PAGES):
            pdf.add_page()
            pdf.cell(0, 6, f"Bench manual {n} - page {p + 1}")
            pdf.ln()
            para = [" ".join(rng.choice(WORDS) for _ in range(60)) + "." for _ in range(4)]
            pdf.multi_cell(0, 5, "\n\n".join(para))
        (root / f"doc{n:03d}.pdf").write_bytes(bytes(pdf.output()))
    return PDFS * PAGES


def extractor_alone(root: Path) -> float:
    """Seconds to extract every file in this process, one after another."""
    files = sorted(root.glob("*.pdf"))
    t0 = time.perf_counter()
    for f in files:
        assert isinstance(extract_pdf(f.read_bytes(), Limits()), Ok)
    return time.perf_counter() - t0


def as_text(root: Path, out: Path) -> None:
    """The extracted text of each PDF as a ``.txt`` file: the same ingest without extraction."""
    out.mkdir(parents=True, exist_ok=True)
    for f in sorted(root.glob("*.pdf")):
        got = extract_pdf(f.read_bytes(), Limits())
        assert isinstance(got, Ok)
        (out / f"{f.stem}.txt").write_text(got.value.text)


def ingest(root: Path, data: Path, jobs: int) -> float:
    """Seconds of one ingest of ``root`` into an empty store with ``--jobs jobs``."""
    shutil.rmtree(data, ignore_errors=True)
    settings = Settings.model_construct(data_dir=data, collection="bench", jobs=jobs)
    t0 = time.perf_counter()
    res = asyncio.run(run_ingest(settings, DEFAULT_SETTINGS, [str(root)], base=root.parent))
    secs = time.perf_counter() - t0
    assert isinstance(res, Ok), res
    assert res.value.errors == [], res.value.errors
    assert res.value.sources_added == PDFS, res.value
    return secs


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "pdfs"
        pages = make_corpus(root)
        ingest(root, Path(tmp) / "warm", 1)  # load the embedder once, outside the timings
        alone = min(extractor_alone(root) for _ in range(2))
        one = min(ingest(root, Path(tmp) / "d1", 1) for _ in range(2))
        two = min(ingest(root, Path(tmp) / "d2", 2) for _ in range(2))
        texts = Path(tmp) / "texts"
        as_text(root, texts)
        plain = min(ingest(texts, Path(tmp) / "d3", 1) for _ in range(2))
    load = "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    note = f"{PDFS} PDFs x {PAGES} pages; {load}"
    return [
        Row(
            "PDF ingest, --jobs 1 (pages/s)",
            pages / one,
            "the extractor alone, one process",
            pages / alone,
            "pages/s",
            ">= 0.85 of the extractor alone",
            note,
        ),
        Row(
            "PDF ingest, --jobs 1 (pages/s)",
            pages / one,
            "the same text as .txt files (no extraction)",
            pages / plain,
            "pages/s",
            "what extraction costs the ingest",
            note,
        ),
        Row(
            "PDF ingest, --jobs 2 (pages/s)",
            pages / two,
            "PDF ingest, --jobs 1",
            pages / one,
            "pages/s",
            ">= 1.6x --jobs 1 on 2 cores",
            note,
        ),
    ]
