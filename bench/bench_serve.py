"""funcpipe-rag serve under load, as ratios against the in-process sequential query rate
measured in the same run (the machine is shared and noisy: read the ratios, not the absolute
figures).

One run prints: the in-process sequential rate and p99 (the baseline: ``Service.search`` one
query after another on the same store), one keep-alive client back to back, 64 keep-alive
clients back to back (the measured capacity), latency at 50% and 150% of that capacity and the
share shed (503 + Retry-After) at 150%, and 50% again while an ingest runs.

The server is a real ``funcpipe-rag serve`` process; the load generator is a minimal HTTP/1.1
client on asyncio streams (its own cost stays small beside the server's on the same cores).
Back-to-back clients honour Retry-After (they sleep it); paced clients keep their schedule
and count a 503 as shed. ``FUNCPIPE_BENCH_SERVE_S`` sets each run's duration (default 20).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _harness import Row
from bench_rag import VOCAB, make_corpus
from funcpipe.result import Err
from funcpipe_rag.app import SearchOptions, Settings
from funcpipe_rag.app.service import open_service

CLIENTS = 64
TARGET_CHUNKS = 20_000
READY = re.compile(r"on http://127\.0\.0\.1:(\d+)")


class Load:
    """What one load run saw (a plain class: run.py loads this module without registering it)."""

    def __init__(self, seconds: float) -> None:
        self.latencies_ms: list[float] = []
        self.refusals_ms: list[float] = []
        self.errors = 0
        self.seconds = seconds

    @property
    def qps(self) -> float:
        return len(self.latencies_ms) / self.seconds

    @property
    def shed_share(self) -> float:
        done = len(self.latencies_ms) + len(self.refusals_ms) + self.errors
        return len(self.refusals_ms) / done if done else 0.0

    def pct(self, p: float) -> float:
        return _pct(self.latencies_ms, p)

    def count(self, status: int, body: bytes, retry_after: str | None, dt_ms: float) -> float:
        """Record one response; the seconds to wait before the next request (Retry-After)."""
        if status == 200 and body.startswith(b"["):
            self.latencies_ms.append(dt_ms)
        elif status == 503 and b'"OVERLOADED"' in body and retry_after:
            self.refusals_ms.append(dt_ms)
            return float(retry_after)
        else:
            self.errors += 1
        return 0.0


def _pct(values: list[float], p: float) -> float:
    lat = sorted(values)
    return lat[max(0, int(len(lat) * p) - 1)] if lat else float("nan")


def _request(path: str, body: bytes, method: str = "POST") -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, str | None]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length, retry_after = 0, None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "retry-after":
            retry_after = value.strip()
    return status, await reader.readexactly(length), retry_after


async def _client(port: int, queries: list[bytes], until: float, out: Load, seed: int) -> None:
    """Back to back on one kept-alive connection; a 503 waits its Retry-After."""
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            writer.write(rng.choice(queries))
            status, body, retry = await _read_response(reader)
            wait = out.count(status, body, retry, (time.perf_counter() - t0) * 1000)
            if wait:
                await asyncio.sleep(min(wait, until - time.perf_counter()))
    finally:
        writer.close()


async def _paced(
    port: int, queries: list[bytes], until: float, out: Load, seed: int, every: float
) -> None:
    """One request every ``every`` s on a schedule; latency counts from the scheduled time
    (a late response delays the next request, and that delay is counted too)."""
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    due = time.perf_counter() + rng.random() * every
    try:
        while due < until:
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(rng.choice(queries))
            status, body, retry = await _read_response(reader)
            out.count(status, body, retry, (time.perf_counter() - due) * 1000)
            due += every
    finally:
        writer.close()


def _queries() -> tuple[list[str], list[bytes]]:
    rng = random.Random(11)
    texts = [" ".join(rng.choice(VOCAB) for _ in range(rng.randint(2, 8))) for _ in range(500)]
    bodies = [_request("/v1/search", json.dumps({"query": q, "k": 10}).encode()) for q in texts]
    return texts, bodies


async def _load(
    port: int, seconds: float, rate: float | None = None, clients: int = CLIENTS
) -> Load:
    """``clients`` connections for ``seconds``: back to back (``rate`` None) or together
    offering ``rate`` queries/s."""
    queries = _queries()[1]
    out = Load(seconds)
    t0 = time.perf_counter()
    until = t0 + seconds
    if rate is None:
        await asyncio.gather(*(_client(port, queries, until, out, i) for i in range(clients)))
    else:
        every = clients / rate
        await asyncio.gather(*(_paced(port, queries, until, out, i, every) for i in range(clients)))
    out.seconds = time.perf_counter() - t0
    return out


def in_process(data: Path, n: int = 400) -> tuple[float, float, float]:
    """The baseline: ``Service.search`` one query after another on the same store (top-10, the
    collection's default cap, as the server's): queries/s, p50 ms, p99 ms."""
    texts = _queries()[0]
    settings = Settings.model_construct(data_dir=data, collection="bench")

    async def _go() -> list[float]:
        async with open_service(settings) as opened:
            if isinstance(opened, Err):
                raise RuntimeError(opened.error.msg)
            service = opened.value
            for q in texts[:20]:
                await service.search(q, SearchOptions(k=10))
            out: list[float] = []
            for i in range(n):
                t0 = time.perf_counter()
                got = await service.search(texts[i % len(texts)], SearchOptions(k=10))
                out.append((time.perf_counter() - t0) * 1000)
                assert not isinstance(got, Err), got
            return out

    lat = asyncio.run(_go())
    return len(lat) / (sum(lat) / 1000), statistics.median(lat), _pct(lat, 0.99)


def _start(root: Path, data: Path) -> tuple[subprocess.Popen[str], int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNCPIPE_")}
    cmd = [sys.executable, "-m", "funcpipe_rag.cli", "serve", "--port", "0"]
    cmd += ["--data-dir", str(data), "--collection", "bench", "--allow-root", str(root)]
    proc = subprocess.Popen(cmd, cwd=root, env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        m = READY.search(line)
        if m:
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, int(m.group(1))
    raise RuntimeError("the server did not start")


def _ingest_cli(root: Path, docs: Path, data: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNCPIPE_")}
    cmd = [sys.executable, "-m", "funcpipe_rag.cli", "ingest", str(docs), "--json"]
    cmd += ["--data-dir", str(data), "--collection", "bench"]
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=True)
    report: dict[str, object] = json.loads(done.stdout)
    return report


def _http(port: int, method: str, path: str, body: dict[str, object] | None = None) -> object:
    async def _go() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_request(path, json.dumps(body or {}).encode(), method))
        _, data, _ = await _read_response(reader)
        writer.close()
        return data

    raw = asyncio.run(_go())
    return raw.decode() if path == "/metrics" else json.loads(raw)


def _phase_means(metrics: str) -> dict[str, float]:
    """Mean ms of each search phase from ``/metrics``, keyed ``phase/ingest``."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in metrics.splitlines():
        m = re.match(
            r'funcpipe_search_phase_seconds_(sum|count)\{ingest="(\w+)",phase="(\w+)"\} (\S+)', line
        )
        if m:
            key = f"{m.group(3)}/{m.group(2)}"
            (sums if m.group(1) == "sum" else counts)[key] = float(m.group(4))
    return {k: round(sums[k] / counts[k] * 1000, 2) for k in sums if counts.get(k)}


def engine_threads(shard_dir: Path, n: int = 300) -> tuple[float, float]:
    """Why one process answers at one core's rate: the same dense queries on one Edge shard
    from one thread, then two; (q/s with two / q/s with one, CPU / wall with two). Queries
    that ran at once would give ~2x and ~2.0 on two idle cores."""
    import qdrant_edge as qe

    shard = qe.EdgeShard.load(str(shard_dir))
    dim = int(json.loads((shard_dir / "edge_config.json").read_text())["vectors"][""]["size"])
    rng = random.Random(5)
    vectors = [[rng.uniform(-1, 1) for _ in range(dim)] for _ in range(50)]

    def _queries(count: int) -> None:
        for i in range(count):
            request = qe.QueryRequest(
                query=qe.Query.Nearest(vectors[i % 50]), limit=10, with_payload=False
            )
            shard.query(request)

    def _rate(threads: int) -> tuple[float, float]:
        workers = [threading.Thread(target=_queries, args=(n,)) for _ in range(threads)]
        wall, cpu = time.perf_counter(), time.process_time()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return threads * n / wall, cpu / wall

    try:
        _queries(20)
        one, _ = _rate(1)
        two, cpu_per_wall = _rate(2)
    finally:
        shard.close()
    return two / one, cpu_per_wall


def bench_load(tmp: Path, seconds: float) -> list[Row]:
    data = tmp / "data"
    n_docs, chunks = 5000, 0
    while chunks < TARGET_CHUNKS:
        docs = make_corpus(tmp / "base", n_docs, seed=3)
        report = _ingest_cli(tmp, docs, data)
        chunks += int(str(report["chunks_upserted"]))
        n_docs += 1000
    extra = make_corpus(tmp / "more", 3000, seed=9)
    base_qps, base_p50, base_p99 = in_process(data)
    proc, port = _start(tmp, data)
    try:
        asyncio.run(_load(port, 2.0))  # warm-up
        one = asyncio.run(_load(port, seconds, clients=1))
        flat = asyncio.run(_load(port, seconds))
        capacity = flat.qps
        half = asyncio.run(_load(port, seconds, 0.5 * capacity))
        over = asyncio.run(_load(port, seconds, 1.5 * capacity))
        job = _http(port, "POST", "/v1/ingest", {"paths": [str(extra)]})
        assert isinstance(job, dict), job
        busy = asyncio.run(_load(port, seconds, 0.5 * capacity))
        status = _http(port, "GET", f"/v1/jobs/{job['job']}", None)
        assert isinstance(status, dict)
        phases = _phase_means(str(_http(port, "GET", "/metrics")))
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=120)
    threads_ratio, cpu_per_wall = engine_threads(data / "edge" / "bench")
    base = "in-process sequential q/s"
    p99 = "in-process p99 ms"
    note = (
        f"{chunks} chunks, top-10 hybrid, {seconds:.0f} s per run, server exit {rc}; "
        f"in-process p50 {base_p50:.2f} ms, p99 {base_p99:.2f} ms"
    )
    return [
        Row(
            "serve: in-process sequential queries/s (baseline)",
            base_qps,
            base,
            base_qps,
            "q/s",
            "-",
            note,
        ),
        Row(
            "serve: one keep-alive client back to back, q/s",
            one.qps,
            base,
            base_qps,
            "q/s",
            ">= 0.8x",
            f"p50 {statistics.median(one.latencies_ms):.2f} ms; errors {one.errors}",
        ),
        Row(
            f"serve: {CLIENTS} keep-alive clients back to back, q/s",
            capacity,
            base,
            base_qps,
            "q/s",
            ">= 1.6x (2 cores)",
            f"shed {len(flat.refusals_ms)} (clients wait Retry-After); errors {flat.errors}",
        ),
        Row(
            f"serve: p99 at 50% of capacity ({0.5 * capacity:.0f} q/s offered), ms",
            half.pct(0.99),
            p99,
            base_p99,
            "ms",
            "<= 4x",
            f"p50 {statistics.median(half.latencies_ms):.2f} ms; shed {half.shed_share:.1%}; "
            f"errors {half.errors}",
        ),
        Row(
            f"serve: answered p99 at 150% of capacity ({1.5 * capacity:.0f} q/s offered), ms",
            over.pct(0.99),
            p99,
            base_p99,
            "ms",
            "<= 8x",
            f"answered {over.qps:.0f} q/s; slowest answer "
            f"{max(over.latencies_ms, default=0):.0f} ms, slowest refusal "
            f"{max(over.refusals_ms, default=0):.0f} ms (<= 1000); "
            f"errors {over.errors}",
        ),
        Row(
            "serve: share shed (503 + Retry-After) at 150% of capacity",
            over.shed_share,
            "offered beyond capacity",
            1 / 3,
            "share",
            "the excess, 0 other errors",
        ),
        Row(
            "serve: p99 at 50% of capacity during an ingest, ms",
            busy.pct(0.99),
            p99,
            base_p99,
            "ms",
            "<= 100 ms",
            f"p50 {statistics.median(busy.latencies_ms):.2f} ms; shed {busy.shed_share:.1%}; "
            f"errors {busy.errors}; ingest {status['status']} at the end: {status['progress']}; "
            f"mean ms by phase/ingest: {phases}",
        ),
        Row(
            "Edge queries on one shard: q/s from two threads / one thread",
            threads_ratio,
            "one thread",
            1.0,
            "ratio",
            "-",
            f"CPU / wall with two threads {cpu_per_wall:.2f} (~2.0 if two queries ran at once)",
        ),
    ]


def run() -> list[Row]:
    seconds = float(os.environ.get("FUNCPIPE_BENCH_SERVE_S", "20"))
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        rows = bench_load(Path(tmp), seconds)
    print(json.dumps({r.name: round(r.figure, 3) for r in rows}), flush=True)
    return rows
