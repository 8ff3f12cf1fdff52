"""funcpipe-rag on Dask: ``--workers 2`` vs the single-process ingest (CPU-bound, the Python
3.11 library docs), and a latency-bound ingest (every embedding request waits 50 ms on a
loopback OpenAI-compatible server) with 1, 2, 4 and 8 workers vs 1 worker.

Each LocalCluster is started (and warmed: the model loaded on its workers) before the timed
runs, whose figures therefore exclude the cluster's start; the start is printed beside them.
Both sides of each ratio run in this process run, on the same files. The machine may be
shared: compare ratios, and read them with the load average printed with them."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import time
from pathlib import Path

from _harness import Row, hash_vectors
from bench_rag import docs_corpus, make_corpus
from distributed import Client, LocalCluster
from funcpipe.result import Ok
from funcpipe.specs import PipelineSpec, parse, serialize
from funcpipe.testing.embeddings_server import EmbeddingsServer, Fault
from funcpipe_rag.app import Cluster, Settings, run_ingest, static_embedder
from funcpipe_rag.pipelines import DEFAULT_SPEC, IngestReport, ingest_settings

LATENCY_S = 0.05
LATENCY_WORKERS = (1, 2, 4, 8)


def _cluster(n: int) -> LocalCluster:
    return LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    )


WARM = (
    "import funcpipe_rag.worker, httpx\n"
    "from funcpipe_rag.app import static_embedder\n"
    "static_embedder().inner.load()\n"
)
"""What each worker imports and loads before a timed run (a cold worker spends seconds)."""


def _warm(lc: LocalCluster) -> None:
    with Client(lc) as client:  # type: ignore[no-untyped-call]
        client.run(exec, WARM)


def _ingest(
    settings: Settings, spec: PipelineSpec, corpus: Path, cluster: Cluster | None
) -> tuple[IngestReport, float]:
    t0 = time.perf_counter()
    res = asyncio.run(
        run_ingest(
            settings, ingest_settings(spec).unwrap(), [str(corpus)], base=corpus, cluster=cluster
        )
    )
    secs = time.perf_counter() - t0
    assert isinstance(res, Ok), res
    return res.value, secs


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def bench_cpu(tmp: Path) -> list[Row]:
    """The library docs, embedded defaults: 2 workers vs one process (best of 2 each)."""
    corpus, what = docs_corpus(tmp)
    static_embedder().inner.load()  # type: ignore[attr-defined]
    warm = tmp / "warm"
    make_corpus(warm, 8)
    t0 = time.perf_counter()
    with _cluster(2) as lc:
        start_s = time.perf_counter() - t0
        on = Cluster(address=lc.scheduler_address)
        _warm(lc)
        _ingest(Settings.model_construct(data_dir=tmp / "w"), DEFAULT_SPEC, warm, on)
        dist: list[float] = []
        one: list[float] = []
        reports: list[IngestReport] = []
        for i in range(2):
            for cluster, times in ((None, one), (on, dist)):
                data = tmp / f"cpu-{i}-{'d' if cluster else 's'}"
                r, secs = _ingest(
                    Settings.model_construct(data_dir=data), DEFAULT_SPEC, corpus, cluster
                )
                times.append(secs)
                reports.append(r)
                shutil.rmtree(data, ignore_errors=True)
    assert all(r.to_json() == reports[0].to_json() for r in reports)
    chunks = reports[0].chunks_embedded
    return [
        Row(
            f"ingest --workers 2, {chunks} chunks of {what}, chunks/s",
            chunks / min(dist),
            "the single-process ingest, same files",
            chunks / min(one),
            "chunks/s (higher is better)",
            ">= 1.5x on 2 cores",
            f"cluster start {start_s:.1f} s (not in the figure); {_load()}",
        )
    ]


def _small_batch_spec(batch: int) -> PipelineSpec:
    """The default spec with ``batch`` texts per embedding request (more requests: the run
    waits on the network, not on the CPU)."""
    data = json.loads(serialize(DEFAULT_SPEC, "json"))
    for op in data["ops"]:
        if "embed_batch" in op.get("params", {}):
            op["params"]["embed_batch"] = batch
    parsed = parse(json.dumps(data), "json", reseal=True)
    assert isinstance(parsed, Ok), parsed
    return parsed.value


def bench_latency(tmp: Path) -> list[Row]:
    """240 generated docs, 4 texts per request, 50 ms per request: N workers vs 1."""
    corpus = make_corpus(tmp / "lat", 240)
    spec = _small_batch_spec(4)
    slow = Fault.slow(LATENCY_S)
    rows: list[Row] = []
    with EmbeddingsServer(hash_vectors, model="hash-16", fault_for=lambda t, a: slow) as server:
        env = {
            "FUNCPIPE_EMBED_URL": server.base_url,
            "FUNCPIPE_EMBED_MODEL": "hash-16",
            "FUNCPIPE_EMBED_DIM": "16",
        }
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)  # the workers of the clusters started below inherit it
        try:
            times: dict[int, float] = {}
            for n in LATENCY_WORKERS:
                with _cluster(n) as lc:
                    _warm(lc)
                    on = Cluster(address=lc.scheduler_address)
                    s = Settings.model_construct(
                        data_dir=tmp / f"lat-{n}",
                        embed_url=server.base_url,
                        embed_model="hash-16",
                        embed_dim=16,
                    )
                    r, secs = _ingest(s, spec, corpus, on)
                    assert not r.errors, r.errors
                    times[n] = secs
                    shutil.rmtree(tmp / f"lat-{n}", ignore_errors=True)
            requests = len(server.requests)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    for n in LATENCY_WORKERS[1:]:
        rows.append(
            Row(
                f"latency-bound ingest, {n} workers vs 1, speedup",
                times[1] / times[n],
                "target 0.8 x N",
                0.8 * n,
                "x (ratio >= 1 meets the target)",
                f">= {0.8 * n:.1f}x",
                f"{times[n]:.2f} s vs {times[1]:.2f} s; {requests // len(LATENCY_WORKERS)} "
                f"requests of 50 ms per run; {_load()}",
            )
        )
    return rows


def run() -> list[Row]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-rag-dask-") as tmp:
        t = Path(tmp)
        rows = bench_cpu(t)
        rows += bench_latency(t)
    print(json.dumps({r.name: round(r.figure, 3) for r in rows}), flush=True)
    return rows
