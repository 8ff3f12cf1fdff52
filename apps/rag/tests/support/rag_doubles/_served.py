"""A real ``funcpipe-rag serve`` on a loopback port for tests, and the CLI as a subprocess
(traffic to 127.0.0.1 only)."""

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

KEY = "s3cret-key"
READY = re.compile(r"on (http://127\.0\.0\.1:\d+)")


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str
    data: Path

    def client(self, key: str | None = KEY) -> httpx.Client:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)


def clean_env(key: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNCPIPE_")}
    if key:
        env["FUNCPIPE_API_KEY"] = key
    return env


def start(
    cwd: Path, data: Path, *args: str, key: str | None = KEY, env: dict[str, str] | None = None
) -> Server:
    cmd = [sys.executable, "-m", "funcpipe_rag.cli", "serve", "--port", "0"]
    cmd += ["--data-dir", str(data), *args]
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env={**clean_env(key), **(env or {})},
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
            return Server(proc, m.group(1), data)
    proc.wait(timeout=30)
    raise AssertionError(f"server did not start: {''.join(lines)}")


def cli(cwd: Path, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "funcpipe_rag.cli", *args],
        cwd=cwd,
        env=clean_env(key),
        capture_output=True,
        text=True,
        timeout=120,
    )
