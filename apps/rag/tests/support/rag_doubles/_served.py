"""A real ``funcpipe-rag serve`` on a loopback port for tests, driven with httpx."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import httpx

READY = re.compile(r"on (http://127\.0\.0\.1:\d+)")


@dataclass
class Served:
    proc: subprocess.Popen[str]
    url: str
    key: str | None

    def client(self, key: str | None = None, **headers: str) -> httpx.Client:
        k = key if key is not None else self.key
        auth = {"authorization": f"Bearer {k}"} if k else {}
        return httpx.Client(base_url=self.url, headers={**auth, **headers}, timeout=30)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


def clean_env(key: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNCPIPE_")}
    if key:
        env["FUNCPIPE_API_KEY"] = key
    return env


def serve(cwd: Path, data: Path, *args: str, key: str | None = None) -> Served:
    """Start ``serve --port 0`` in ``cwd``; returns once it listens."""
    cmd = [sys.executable, "-m", "funcpipe_rag.cli", "serve", "--port", "0"]
    proc = subprocess.Popen(
        [*cmd, "--data-dir", str(data), *args],
        cwd=cwd,
        env=clean_env(key),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    for line in proc.stderr:
        lines.append(line)
        m = READY.search(line)
        if m:
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return Served(proc, m.group(1), key)
    proc.wait(timeout=30)
    raise AssertionError(f"server did not start: {''.join(lines)}")
