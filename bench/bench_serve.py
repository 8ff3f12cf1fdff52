"""funcpipe-rag serve under load: 64 concurrent keep-alive clients on loopback for 20 s against
a store of 20k chunks (queries/s, p50, p99, errors), then the same while an ingest runs.

The server is a real ``funcpipe-rag serve`` process; the load generator is a minimal HTTP/1.1
client on asyncio streams (so the client's own cost stays small beside the server's on the same
2 cores). ``FUNCPIPE_BENCH_SERVE_S`` sets the duration of each run (default 20).
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

CLIENTS = 64
RATE = 400.0
TARGET_CHUNKS = 20_000
READY = re.compile(r"on http://127\.0\.0\.1:(\d+)")


class Load:
    """What one load run saw (a plain class: run.py loads this module without registering it)."""

    def __init__(self, seconds: float) -> None:
        self.latencies_ms: list[float] = []
        self.errors = 0
        self.seconds = seconds
        self.timeline: list[tuple[float, float]] = []

    def worst_by_second(self) -> list[int]:
        """The slowest query of each second of the run, ms (where the tail comes from)."""
        if not self.timeline:
            return []
        t0 = min(t for t, _ in self.timeline)
        worst: dict[int, float] = {}
        for t, dt in self.timeline:
            sec = int(t - t0)
            worst[sec] = max(worst.get(sec, 0.0), dt)
        return [round(worst[k]) for k in sorted(worst)]

    @property
    def qps(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def pct(self, p: float) -> float:
        lat = sorted(self.latencies_ms)
        return lat[max(0, int(len(lat) * p) - 1)] if lat else float("nan")


def _request(path: str, body: bytes, method: str = "POST") -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    return status, await reader.readexactly(length)


async def _client(port: int, queries: list[bytes], until: float, out: Load, seed: int) -> None:
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            q = rng.choice(queries)
            t0 = time.perf_counter()
            writer.write(q)
            status, body = await _read_response(reader)
            dt = (time.perf_counter() - t0) * 1000
            if status == 200 and body.startswith(b"["):
                out.latencies_ms.append(dt)
            else:
                out.errors += 1
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
            status, body = await _read_response(reader)
            dt = (time.perf_counter() - due) * 1000
            if status == 200 and body.startswith(b"["):
                out.latencies_ms.append(dt)
                out.timeline.append((due, dt))
            else:
                out.errors += 1
            due += every
    finally:
        writer.close()


async def _load(port: int, seconds: float, rate: float | None = None) -> Load:
    """``CLIENTS`` connections for ``seconds``: as fast as each can go (``rate`` None) or
    together offering ``rate`` queries/s."""
    rng = random.Random(11)
    queries = [
        _request(
            "/v1/search",
            json.dumps(
                {"query": " ".join(rng.choice(VOCAB) for _ in range(rng.randint(2, 8))), "k": 10}
            ).encode(),
        )
        for _ in range(500)
    ]
    out = Load(seconds)
    t0 = time.perf_counter()
    until = t0 + seconds
    if rate is None:
        await asyncio.gather(*(_client(port, queries, until, out, i) for i in range(CLIENTS)))
    else:
        every = CLIENTS / rate
        await asyncio.gather(*(_paced(port, queries, until, out, i, every) for i in range(CLIENTS)))
    out.seconds = time.perf_counter() - t0
    return out


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
    async def _go() -> object:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_request(path, json.dumps(body or {}).encode(), method))
        _, data = await _read_response(reader)
        writer.close()
        return json.loads(data)

    return asyncio.run(_go())


def bench_load(tmp: Path, seconds: float) -> list[Row]:
    data = tmp / "data"
    n_docs, chunks = 5000, 0
    while chunks < TARGET_CHUNKS:
        docs = make_corpus(tmp / "base", n_docs, seed=3)
        report = _ingest_cli(tmp, docs, data)
        chunks += int(str(report["chunks_upserted"]))
        n_docs += 1000
    extra = make_corpus(tmp / "more", 3000, seed=9)
    proc, port = _start(tmp, data)
    try:
        asyncio.run(_load(port, 2.0))  # warm-up
        flat_out = asyncio.run(_load(port, seconds))
        idle = asyncio.run(_load(port, seconds, RATE))
        job = _http(port, "POST", "/v1/ingest", {"paths": [str(extra)]})
        assert isinstance(job, dict), job
        busy = asyncio.run(_load(port, seconds, RATE))
        status = _http(port, "GET", f"/v1/jobs/{job['job']}", None)
        assert isinstance(status, dict)
        job_note = (
            f"ingest {status['status']} at the end: {status['progress']}; "
            f"slowest query per second, ms: {busy.worst_by_second()}"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=120)
    note = f"{chunks} chunks, {CLIENTS} clients, {seconds:.0f} s, top-10; server exit {rc}"
    paced = f"{CLIENTS} clients offering {RATE:.0f} q/s together; latency from the scheduled send"
    rows = [
        Row(
            "serve queries/s (clients back to back)",
            flat_out.qps,
            "target",
            400.0,
            "q/s",
            ">= 400 q/s",
            f"{note}; errors {flat_out.errors}; p50 "
            f"{statistics.median(flat_out.latencies_ms):.1f} ms (= {CLIENTS} in flight / rate)",
        ),
        Row(
            "serve queries/s answered at 400 offered",
            idle.qps,
            "offered",
            RATE,
            "q/s",
            "= 400",
            paced,
        ),
        Row(
            "serve p50 at 400 q/s, ms",
            statistics.median(idle.latencies_ms),
            "target",
            5.0,
            "ms",
            "<= 5 ms",
        ),
        Row("serve p99 at 400 q/s, ms", idle.pct(0.99), "target", 25.0, "ms", "<= 25 ms"),
        Row("serve errors", float(idle.errors + flat_out.errors), "target", 0.0, "count", "0"),
        Row(
            "serve queries/s at 400 offered, during an ingest",
            busy.qps,
            "offered",
            RATE,
            "q/s",
            "= 400",
            job_note,
        ),
        Row(
            "serve p50 during an ingest, ms",
            statistics.median(busy.latencies_ms),
            "target",
            5.0,
            "ms",
            "-",
        ),
        Row("serve p99 during an ingest, ms", busy.pct(0.99), "target", 100.0, "ms", "<= 100 ms"),
        Row("serve errors during an ingest", float(busy.errors), "target", 0.0, "count", "0"),
    ]
    return rows


def run() -> list[Row]:
    seconds = float(os.environ.get("FUNCPIPE_BENCH_SERVE_S", "20"))
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        rows = bench_load(Path(tmp), seconds)
    print(json.dumps({r.name: round(r.figure, 3) for r in rows}), flush=True)
    return rows
