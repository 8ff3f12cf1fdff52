"""funcpipe-rag: ingest throughput vs the embedder alone, unchanged re-ingest vs first ingest,
peak memory at 10x the documents, and search latency over 20k chunks (embedded defaults:
Qdrant Edge + the bundled static model)."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TypeVar

from _harness import Row
from funcpipe.result import ErrInfo, Ok, Result
from funcpipe_rag.app import Settings, open_backends, run_ingest, static_embedder
from funcpipe_rag.domain import SyncContext, desired_records, make_document
from funcpipe_rag.pipelines import DEFAULT_SPEC, IngestReport, search, spec_chunking

T = TypeVar("T")

VOCAB = " ".join(
    [
        "pipeline stream retry backoff policy vector store chunk embed search query source",
        "document version commit marker offset hash spec registry adapter runtime plan result",
        "error value law property test clock sleep token bucket batch concurrency window order",
        "memory latency throughput index segment payload filter cosine model static offline",
    ]
).split()


def _paragraph(rng: random.Random) -> str:
    words = [rng.choice(VOCAB) for _ in range(rng.randint(60, 100))]
    return " ".join(words).capitalize() + "."


def make_corpus(root: Path, n_docs: int, seed: int = 7) -> Path:
    rng = random.Random(seed)
    docs = root / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for i in range(n_docs):
        paras = [_paragraph(rng) for _ in range(rng.randint(3, 6))]
        (docs / f"doc{i:05d}.md").write_text(f"# Page {i}\n\n" + "\n\n".join(paras) + "\n")
    return docs


def _drive(main: Callable[[], Coroutine[object, object, Result[T, ErrInfo]]]) -> T:
    res = asyncio.run(main())
    assert isinstance(res, Ok), res
    return res.value


def _ingest(settings: Settings, root: Path) -> tuple[IngestReport, float]:
    t0 = time.perf_counter()
    report = _drive(lambda: run_ingest(settings, DEFAULT_SPEC, [str(root / "docs")], base=root))
    return report, time.perf_counter() - t0


def _chunk_texts(docs: Path) -> list[str]:
    emb = static_embedder()
    ctx = SyncContext(emb.identity, DEFAULT_SPEC.version, spec_chunking(DEFAULT_SPEC))
    texts: list[str] = []
    for p in sorted(docs.glob("*.md")):
        doc = make_document(f"docs/{p.name}", p.read_text(), "md")
        texts += [r.text for r in desired_records(doc, ctx)]
    return texts


async def _embed_alone(texts: list[str], batch: int) -> Result[float, ErrInfo]:
    emb = static_embedder()
    t0 = time.perf_counter()
    for i in range(0, len(texts), batch):
        res = await emb.embed(texts[i : i + batch])()
        if not isinstance(res, Ok):
            return res
    return Ok(time.perf_counter() - t0)


def bench_throughput(tmp: Path) -> list[Row]:
    root = tmp / "tp"
    make_corpus(root, 400)
    static_embedder().inner.load()  # type: ignore[attr-defined]
    texts = _chunk_texts(root / "docs")
    _drive(lambda: _embed_alone(texts[:64], 64))  # warm-up
    alone = min(_drive(lambda: _embed_alone(texts, 64)) for _ in range(2))
    runs: list[float] = []
    first: IngestReport | None = None
    for i in range(2):
        settings = Settings.model_construct(data_dir=tmp / f"tp-data{i}", collection="bench")
        report, secs = _ingest(settings, root)
        first = first or report
        runs.append(secs)
    assert first is not None
    assert first.chunks_embedded == len(texts), (first.chunks_embedded, len(texts))
    ingest_cps = len(texts) / min(runs)
    alone_cps = len(texts) / alone
    again, again_s = _ingest(
        Settings.model_construct(data_dir=tmp / "tp-data0", collection="bench"), root
    )
    return [
        Row(
            f"ingest throughput, {len(texts)} chunks / {first.sources_added} docs, chunks/s",
            ingest_cps,
            "the static embedder alone on the same texts",
            alone_cps,
            "chunks/s (higher is better)",
            ">= 80% of the embedder's throughput",
            f"{100 * ingest_cps / alone_cps:.0f}% of the embedder alone",
        ),
        Row(
            "re-ingest of the unchanged corpus, seconds",
            again_s,
            "first ingest of the same corpus",
            min(runs),
            "s (lower is better)",
            ">= 20x faster, 0 embeddings",
            f"{min(runs) / again_s:.1f}x faster; {again.chunks_embedded} chunks embedded, "
            f"{again.chunks_upserted} points written",
        ),
    ]


MEMORY_CHILD = textwrap.dedent(
    """
    import asyncio, resource, sys
    from pathlib import Path
    from funcpipe_rag.app import Settings, run_ingest
    from funcpipe_rag.pipelines import DEFAULT_SPEC
    root, data = Path(sys.argv[1]), Path(sys.argv[2])
    settings = Settings.model_construct(data_dir=data, collection="mem")
    res = asyncio.run(run_ingest(settings, DEFAULT_SPEC, [str(root / "docs")], base=root))
    assert res.is_ok(), res
    rss_now = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize() // 1024
    print(res.unwrap().chunks_embedded, rss_now, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
)


def _peak_kib(root: Path, data: Path) -> tuple[int, int, int]:
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(root), str(data)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    ).stdout.split()
    return int(out[-3]), int(out[-2]), int(out[-1])


def bench_memory(tmp: Path) -> list[Row]:
    small, big = tmp / "m1", tmp / "m10"
    make_corpus(small, 300, seed=1)
    make_corpus(big, 3000, seed=1)
    c1, end1, kib1 = _peak_kib(small, tmp / "m1-data")
    c10, end10, kib10 = _peak_kib(big, tmp / "m10-data")
    return [
        Row(
            f"peak RSS ingesting 10x the documents ({c10} chunks), MiB",
            kib10 / 1024,
            f"ingesting 1x ({c1} chunks)",
            kib1 / 1024,
            "MiB (ru_maxrss, separate processes)",
            "grows <= 10%",
            f"growth {100 * (kib10 - kib1) / kib1:.1f}%; RSS at the end "
            f"{end1 / 1024:.0f} MiB (1x) vs {end10 / 1024:.0f} MiB (10x)",
        )
    ]


async def _search_latencies(settings: Settings, queries: list[str]) -> Result[list[float], ErrInfo]:
    async with open_backends(settings, "bench") as opened:
        if not isinstance(opened, Ok):
            return opened
        b = opened.value
        for q in queries[:20]:  # warm-up
            await search(b.index, b.embedder, q, 10)()
        out: list[float] = []
        for q in queries:
            t0 = time.perf_counter()
            res = await search(b.index, b.embedder, q, 10)()
            out.append((time.perf_counter() - t0) * 1000)
            if not isinstance(res, Ok) or len(res.value) != 10:
                return Ok([]) if isinstance(res, Ok) else res
        return Ok(out)


def bench_search(tmp: Path) -> list[Row]:
    root = tmp / "s"
    n_docs = 0
    settings = Settings.model_construct(data_dir=tmp / "s-data", collection="bench")
    chunks = 0
    while chunks < 20_000:  # grow the corpus until the store holds 20k chunks
        more = 1500
        make_corpus(root, n_docs + more, seed=3)
        n_docs += more
        report, _ = _ingest(settings, root)
        chunks += report.chunks_upserted
    rng = random.Random(5)
    queries = [" ".join(rng.choice(VOCAB) for _ in range(rng.randint(2, 8))) for _ in range(400)]
    lat = sorted(_drive(lambda: _search_latencies(settings, queries)))
    p50 = statistics.median(lat)
    p99 = lat[int(len(lat) * 0.99) - 1]
    note = f"{chunks} chunks, {len(lat)} queries of top-10 (query embedding included)"
    return [
        Row(f"search p50 over {chunks} chunks, ms", p50, "target", 5.0, "ms", "p50 <= 5 ms", note),
        Row(
            f"search p99 over {chunks} chunks, ms", p99, "target", 20.0, "ms", "p99 <= 20 ms", note
        ),
    ]


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-rag-") as tmp:
        t = Path(tmp)
        rows = bench_throughput(t)
        rows += bench_memory(t)
        rows += bench_search(t)
    print(json.dumps({r.name: round(r.figure, 3) for r in rows}), flush=True)
    return rows
