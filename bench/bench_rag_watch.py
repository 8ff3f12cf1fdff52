"""``watch`` (issue 23): lag from a file write to its batch applied (its chunks written, so
searchable), p50 and p99 over N edits with the default 1 s settle window; and the CPU an idle
watch takes. Baselines: the settle window itself (a lag can never be below it) and an idle
event loop's CPU, measured in the same run.

Env: ``BENCH_WATCH_EDITS`` (default 200), ``BENCH_WATCH_IDLE_S`` (default 10).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from _harness import Row, hash_vectors
from funcpipe.testing.embeddings_server import EmbeddingsServer
from funcpipe_rag.app import Settings
from funcpipe_rag.app._watch import Batch, WatchOptions, run_watch
from funcpipe_rag.domain._watch_plan import DEFAULT_SETTLE

EDITS = int(os.environ.get("BENCH_WATCH_EDITS", "200"))
IDLE_S = float(os.environ.get("BENCH_WATCH_IDLE_S", "10"))


def _page(i: int) -> str:
    return f"# Edit {i}\n\nThe text of edit number {i}, with a few words about watching.\n"


async def _measure(tmp: Path, server: EmbeddingsServer) -> tuple[list[float], float, float]:
    docs = tmp / "docs"
    docs.mkdir()
    for i in range(20):
        (docs / f"p{i:02d}.md").write_text(_page(1000 + i))
    s = Settings.model_construct(
        data_dir=tmp / "data",
        collection="bench",
        embed_url=server.base_url,
        embed_model=server.model,
        embed_dim=16,
    )
    applied: list[tuple[float, Batch]] = []
    news = asyncio.Event()

    def on_batch(b: Batch) -> None:
        applied.append((time.monotonic(), b))
        news.set()

    stop = asyncio.Event()
    opts = WatchOptions((str(docs),), prune=True, base=tmp)
    task = asyncio.create_task(run_watch(s, opts, stop, on_batch))
    await news.wait()  # the reconcile
    await asyncio.sleep(1.0)  # the watcher thread is up
    t0, c0 = time.monotonic(), time.process_time()
    await asyncio.sleep(IDLE_S)
    idle_cpu = (time.process_time() - c0) / (time.monotonic() - t0)
    lags: list[float] = []
    for i in range(EDITS):
        seen = len(applied)
        wrote = time.monotonic()
        (docs / f"p{i % 20:02d}.md").write_text(_page(i))
        done = [t for t, b in applied[seen:] if b.changed]
        while not done:
            news.clear()
            await news.wait()
            done = [t for t, b in applied[seen:] if b.changed]
        lags.append(done[0] - wrote)
    stop.set()
    await task
    t1, c1 = time.monotonic(), time.process_time()
    await asyncio.sleep(IDLE_S / 5)
    loop_cpu = (time.process_time() - c1) / (time.monotonic() - t1)
    return lags, idle_cpu, loop_cpu


def run() -> list[Row]:
    with (
        tempfile.TemporaryDirectory() as d,
        EmbeddingsServer(hash_vectors, model="hash-16") as server,
    ):
        lags, idle, base = asyncio.run(_measure(Path(d), server))
    lags.sort()
    p50 = statistics.median(lags)
    p99 = lags[min(len(lags) - 1, round(0.99 * (len(lags) - 1)))]
    note = f"{EDITS} edits, settle {DEFAULT_SETTLE} s, Qdrant Edge, loopback embedder"
    return [
        Row(
            "watch lag write -> applied p50, s",
            p50,
            "settle window",
            DEFAULT_SETTLE,
            "s",
            "p50 <= 2 s",
            note,
        ),
        Row(
            "watch lag write -> applied p99, s",
            p99,
            "settle window",
            DEFAULT_SETTLE,
            "s",
            "p99 <= 5 s",
            note,
        ),
        Row(
            "watch idle CPU, share of a core",
            idle,
            "idle event loop",
            max(base, 1e-6),
            "cores",
            "<= 0.01 of a core",
            f"over {IDLE_S:.0f} s idle",
        ),
    ]
