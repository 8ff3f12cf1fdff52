"""Retrieval eval: a labelled question set over a corpus nobody here wrote.

Usage: ``python bench/eval_retrieval.py [--corpus DIR] [--modes dense,sparse,hybrid] [-k 10]
[--per-source N]``
(``make eval``). The corpus defaults to the Python 3.11 library reference as reStructuredText
(Debian's ``python3.11-doc`` puts it under ``/usr/share/doc/python3.11/html/_sources/library``,
one ``NAME.rst.txt`` per page); it is copied to a scratch folder as ``NAME.rst`` so the page
stem is the label. Each mode ingests into its own throwaway embedded store with the default spec
under that search mode (``build_default_spec``), then answers every question of
``eval_questions.json`` in process (one store and one embedder open for all queries), with the
spec's per-source cap unless ``--per-source`` says otherwise.

Printed per mode, side by side in one run: hit@1, hit@5 (the labelled page is first / in the
top 5), MRR over the top k, mean distinct sources in the top 5, ingest throughput (chunks/s)
and search latency p50/p99 (ms, query encoding included, after ten untimed warm-up queries).
A mode this build does not support is reported as such, never silently replaced by another.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from funcpipe.result import Err, Ok
from funcpipe_rag.app import Settings, open_backends, run_ingest
from funcpipe_rag.domain import MODES, SearchOptions
from funcpipe_rag.pipelines import (
    DEFAULT_SEARCH,
    build_default_spec,
    ingest_settings,
    search,
)

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = Path("/usr/share/doc/python3.11/html/_sources/library")
SUPPORTED_MODES = MODES
"""Search modes this build of funcpipe-rag can run."""


@dataclass(frozen=True)
class Question:
    q: str
    answers: frozenset[str]


@dataclass(frozen=True)
class ModeResult:
    mode: str
    hit1: float
    hit5: float
    mrr: float
    distinct5: float
    chunks_per_s: float
    p50_ms: float
    p99_ms: float


def load_questions(path: Path) -> list[Question]:
    data = json.loads(path.read_text())
    return [Question(d["q"], frozenset(d["answers"])) for d in data["questions"]]


def stage_corpus(src: Path, dst: Path) -> int:
    """Copy the pages to ``dst``: ``NAME.rst.txt`` as ``NAME.rst``, other text pages as they are."""
    dst.mkdir(parents=True)
    n = 0
    for f in sorted(src.iterdir()):
        if f.name.endswith(".rst.txt"):
            shutil.copyfile(f, dst / f.name.removesuffix(".txt"))
        elif f.suffix in {".rst", ".md", ".html", ".txt"}:
            shutil.copyfile(f, dst / f.name)
        else:
            continue
        n += 1
    return n


def page_of(source_key: str) -> str:
    """The label of a source key: its file name without the extension."""
    name = PurePosixPath(source_key).name
    return name.split(".rst")[0] if ".rst" in name else PurePosixPath(name).stem


def score(ranked: Sequence[Sequence[str]], questions: Sequence[Question]) -> tuple[float, ...]:
    """hit@1, hit@5, MRR (over what was returned) and mean distinct sources in the top 5."""
    hit1 = hit5 = rr = distinct = 0.0
    for pages, q in zip(ranked, questions, strict=True):
        first = next((i for i, p in enumerate(pages) if p in q.answers), None)
        hit1 += first == 0
        hit5 += first is not None and first < 5
        rr += 0.0 if first is None else 1.0 / (first + 1)
        distinct += len(set(pages[:5]))
    n = len(questions)
    return hit1 / n, hit5 / n, rr / n, distinct / n


async def _run_mode(
    mode: str,
    corpus: Path,
    work: Path,
    questions: Sequence[Question],
    k: int,
    per_source: int | None,
) -> ModeResult:
    settings = Settings(data_dir=work / f"store-{mode}")
    spec = build_default_spec(replace(DEFAULT_SEARCH, mode=mode))  # type: ignore[arg-type]
    t0 = time.perf_counter()
    report = await run_ingest(
        settings, ingest_settings(spec).unwrap(), [str(corpus)], base=corpus.parent
    )
    elapsed = time.perf_counter() - t0
    if isinstance(report, Err):
        raise SystemExit(f"ingest failed: {report.error.code}: {report.error.msg}")
    chunks = report.value.chunks_embedded
    ranked: list[list[str]] = []
    lat: list[float] = []
    async with open_backends(settings, "funcpipe") as opened:
        if isinstance(opened, Err):
            raise SystemExit(f"store: {opened.error.msg}")
        b = opened.value
        for q in questions[:10]:  # warm-up (caches, the model's first call), not timed
            await search(b.index, b.embedder, q.q, SearchOptions(k, per_source))()
        for q in questions:
            s0 = time.perf_counter()
            hits = await search(b.index, b.embedder, q.q, SearchOptions(k, per_source))()
            lat.append((time.perf_counter() - s0) * 1000)
            assert isinstance(hits, Ok), hits
            ranked.append([page_of(h.source) for h in hits.value])
    hit1, hit5, mrr, distinct = score(ranked, questions)
    lat.sort()
    return ModeResult(
        mode,
        hit1,
        hit5,
        mrr,
        distinct,
        chunks / elapsed if elapsed else 0.0,
        statistics.median(lat),
        lat[min(len(lat) - 1, int(0.99 * len(lat)))],
    )


def main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--questions", type=Path, default=HERE / "eval_questions.json")
    ap.add_argument("--modes", default="dense,sparse,hybrid")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--per-source", type=int, default=None, help="hits per source (spec's)")
    args = ap.parse_args(argv)
    if not args.corpus.is_dir():
        print(
            f"corpus not found: {args.corpus} (install Debian's python3.11-doc, "
            "or pass --corpus DIR)",
            file=sys.stderr,
        )
        return 2
    questions = load_questions(args.questions)
    results: list[ModeResult] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "library"
        pages = stage_corpus(args.corpus, corpus)
        print(f"corpus: {pages} pages from {args.corpus}; {len(questions)} questions; k={args.k}")
        for mode in args.modes.split(","):
            if mode not in SUPPORTED_MODES:
                skipped.append(mode)
                continue
            run = _run_mode(mode, corpus, Path(tmp), questions, args.k, args.per_source)
            results.append(asyncio.run(run))
    head = f"{'mode':8} {'hit@1':>6} {'hit@5':>6} {'MRR':>6} {'src@5':>6} "
    print(head + f"{'chunks/s':>9} {'p50 ms':>7} {'p99 ms':>7}")
    for r in results:
        print(
            f"{r.mode:8} {r.hit1:6.3f} {r.hit5:6.3f} {r.mrr:6.3f} {r.distinct5:6.2f} "
            f"{r.chunks_per_s:9.0f} {r.p50_ms:7.2f} {r.p99_ms:7.2f}"
        )
    for mode in skipped:
        print(f"{mode:8} not supported by this build (supported: {', '.join(SUPPORTED_MODES)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
