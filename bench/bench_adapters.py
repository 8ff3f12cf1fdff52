"""Adapters: vector-store upsert points/s and query latency (Edge vs qdrant-client local
``path=`` mode) at 20k x 256-d, and static-embedder texts/s (vs wordllama called directly).

Local mode is expected to be far slower: it is pure Python/numpy with SQLite persistence.
Set ``FUNCPIPE_BENCH_LOCAL_N`` to bench local mode on fewer points (default 20,000).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from _harness import Row
from funcpipe.adapters.edge import EdgeStore
from funcpipe.adapters.embed import StaticEmbedder
from funcpipe.adapters.qdrant import QdrantStore
from funcpipe.adapters.runtime import perform_async
from funcpipe.adapters.vectors import Point, VectorStore

N = 20_000
DIM = 256
QUERIES = 200
LOCAL_N = int(os.environ.get("FUNCPIPE_BENCH_LOCAL_N", str(N)))


def _points(n: int) -> list[Point]:
    rng = random.Random(0)
    return [
        Point(
            str(uuid.UUID(int=rng.getrandbits(128))),
            [rng.gauss(0, 1) for _ in range(DIM)],
            {"source": f"doc{i % 200}", "chunk": i},
        )
        for i in range(n)
    ]


async def _bench_store(
    store: VectorStore, points: list[Point]
) -> tuple[float, float, float, float]:
    c = "bench"
    (
        await perform_async(store.ensure_collection(c, DIM, payload_indexes={"source": "keyword"}))
    ).unwrap()
    t0 = time.perf_counter()
    for i in range(0, len(points), 1000):
        (await perform_async(store.upsert(c, points[i : i + 1000]))).unwrap()
    upsert_rate = len(points) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    (await perform_async(store.optimize(c))).unwrap()  # part of the documented load flow
    optimize_s = time.perf_counter() - t0
    rng = random.Random(1)
    lat: list[float] = []
    for _ in range(QUERIES):
        q = [rng.gauss(0, 1) for _ in range(DIM)]
        t = time.perf_counter()
        (await perform_async(store.query(c, q, limit=10))).unwrap()
        lat.append((time.perf_counter() - t) * 1000)
    (await perform_async(store.close())).unwrap()
    lat.sort()
    return upsert_rate, optimize_s, statistics.median(lat), lat[int(len(lat) * 0.99) - 1]


def _run_edge(points: list[Point], root: Path) -> tuple[float, float, float, float]:
    return asyncio.run(_bench_store(EdgeStore(root / "edge"), points))


def _run_local(points: list[Point], root: Path) -> tuple[float, float, float, float]:
    async def main() -> tuple[float, float, float, float]:
        store = (await perform_async(QdrantStore.connect(path=str(root / "local")))).unwrap()
        return await _bench_store(store, points)

    return asyncio.run(main())


def _raw_edge(points: list[Point], root: Path) -> tuple[float, float, float]:
    """Baseline: qdrant_edge called directly (same points, batches, queries), no adapter."""
    import qdrant_edge as qe

    cfg = qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=DIM, distance=qe.Distance.Cosine))
    shard = qe.EdgeShard.create(str(root / "raw"), cfg)
    t0 = time.perf_counter()
    for i in range(0, len(points), 256):
        batch = [qe.Point(p.id, list(p.vector), dict(p.payload)) for p in points[i : i + 256]]
        shard.update(qe.UpdateOperation.upsert_points(batch))
    rate = len(points) / (time.perf_counter() - t0)
    shard.optimize()
    rng = random.Random(1)
    lat: list[float] = []
    for _ in range(QUERIES):
        q = [rng.gauss(0, 1) for _ in range(DIM)]
        t = time.perf_counter()
        shard.query(qe.QueryRequest(query=qe.Query.Nearest(q), limit=10, with_payload=True))
        lat.append((time.perf_counter() - t) * 1000)
    shard.close()
    lat.sort()
    return rate, statistics.median(lat), lat[int(len(lat) * 0.99) - 1]


def _texts(n: int) -> list[str]:
    rng = random.Random(2)
    words = ["the", "a", "vector", "store", "query", "embedding", "index", "chunk", "document"]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(20, 120))) for _ in range(n)]


def _bench_embedder() -> tuple[float, float]:
    texts = _texts(5000)
    emb = StaticEmbedder()
    emb.load()
    model = emb._model
    assert model is not None
    t0 = time.perf_counter()
    model.embed(texts, norm=True, batch_size=64)
    direct = len(texts) / (time.perf_counter() - t0)

    async def main() -> float:
        t = time.perf_counter()
        for i in range(0, len(texts), 256):
            (await perform_async(emb.embed(texts[i : i + 256]))).unwrap()
        return len(texts) / (time.perf_counter() - t)

    return asyncio.run(main()), direct


def run() -> list[Row]:
    import warnings

    warnings.filterwarnings("ignore", category=UserWarning, module="qdrant_client")
    points = _points(N)
    with tempfile.TemporaryDirectory() as d:
        e_rate, e_opt, e_p50, e_p99 = _run_edge(points, Path(d))
        r_rate, r_p50, r_p99 = _raw_edge(points, Path(d))
        l_rate, _, l_p50, l_p99 = _run_local(points[:LOCAL_N], Path(d))
    s_rate, direct = _bench_embedder()
    local = f"qdrant-client local path= ({LOCAL_N // 1000}k)"
    raw = "qdrant_edge called directly (no adapter)"
    return [
        Row(
            f"EdgeStore upsert {N // 1000}k x {DIM}-d, points/s",
            e_rate,
            local,
            l_rate,
            "points/s",
            "informational (rag-app.md: ~19,000 vs ~360)",
            f"then EdgeStore.optimize() (HNSW build) took {e_opt:.1f} s; queries ran after it",
        ),
        Row(
            "EdgeStore upsert, points/s (adapter overhead)",
            e_rate,
            raw,
            r_rate,
            "points/s",
            "informational (validation, UUID and JSON checks, thread hop)",
        ),
        Row("EdgeStore top-10 query p50, ms", e_p50, local, l_p50, "ms", "p50 <= 5 ms"),
        Row("EdgeStore top-10 query p99, ms", e_p99, local, l_p99, "ms", "p99 <= 20 ms"),
        Row("EdgeStore top-10 query p50, ms (adapter overhead)", e_p50, raw, r_p50, "ms", "-"),
        Row("EdgeStore top-10 query p99, ms (adapter overhead)", e_p99, raw, r_p99, "ms", "-"),
        Row(
            "StaticEmbedder.embed (batches of 256), texts/s",
            s_rate,
            "wordllama embed() called directly",
            direct,
            "texts/s",
            "informational",
            "adapter = input checks + thread hop + unit-normalising + conversion to Python lists",
        ),
    ]
