"""``--server`` is the same program: every command run locally and through a real ``serve``
over the same inputs prints the same stdout (text and JSON) and exits with the same code,
failures included (partial, usage, backend down), and leaves equal stores.

Two stores under one folder get the same source keys (the key base is the folder holding the
data dir): ``local`` is written by the CLI, ``served`` by a real uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from rag_doubles import Server, cli, start

Run = subprocess.CompletedProcess[str]


def _tree(root: Path) -> Path:
    docs = root / "docs"
    (docs / "sub").mkdir(parents=True)
    topics = [
        "retries backoff jitter",
        "timeouts deadlines",
        "batching chunks sizes",
        "rate limits tokens",
        "fairness merge weights",
    ]
    for i, words in enumerate(topics):
        body = f"# Topic {i}\n\n## Part\n\nA note on {words}: " + " ".join(
            f"{words.split()[0]}{j}" for j in range(5 * (i + 1))
        )
        (docs / f"doc{i}.md").write_text(body + "\n", "utf-8")
    (docs / "sub" / "page.rst").write_text("Title\n=====\n\nA page about backoff.\n", "utf-8")
    (docs / "bad.txt").write_bytes(b"\xff\xfe\x00binary\x00")  # DECODE_ERROR: partial, exit 4
    (docs / "skip.bin").write_bytes(b"x")  # skipped and counted
    return docs


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Server]]:
    root = tmp_path_factory.mktemp("parity")
    docs = _tree(root)
    server = start(root, root / "served", "--allow-root", str(docs))
    yield root, server
    assert server.stop() == 0


def _both(root: Path, server: Server, *args: str) -> tuple[Run, Run]:
    local = cli(root, *args, "--data-dir", str(root / "local"))
    remote = cli(root, *args, "--server", server.url, key="s3cret-key")
    return local, remote


def _same(local: Run, remote: Run) -> None:
    assert (remote.returncode, remote.stdout) == (local.returncode, local.stdout), (
        local.stderr,
        remote.stderr,
    )


def test_every_command_is_the_same_program_local_and_served(
    pair: tuple[Path, Server],
) -> None:
    root, server = pair
    docs = str(root / "docs")
    # ingest: the first run (partial: one undecodable file, exit 4), text then JSON re-runs
    local, remote = _both(root, server, "ingest", docs)
    _same(local, remote)
    assert local.returncode == 4
    assert "6 added" in local.stdout
    reruns: list[tuple[str, ...]] = [
        ("ingest", docs, "--json"),
        ("ingest", docs, "--dry-run", "--prune"),
    ]
    for args in reruns:
        _same(*_both(root, server, *args))
    # include/exclude travel to the server (never silently dropped)
    local, remote = _both(root, server, "ingest", docs, "--exclude", "bad.txt", "--json")
    _same(local, remote)
    assert json.loads(local.stdout)["errors"] == []
    # reads
    reads: list[tuple[str, ...]] = [
        ("search", "retries with backoff", "-k", "3"),
        ("search", "timeouts and deadlines", "--per-source", "2", "--source", "docs/*", "--json"),
        ("sources",),
        ("verify", "--repair", "--json"),
        ("ask", "how do retries use backoff jitter", "--json"),
    ]
    for args in reads:
        _same(*_both(root, server, *args))
    # stats: the same figures but for the store's own size and where it lives
    local, remote = _both(root, server, "stats", "--json")
    assert (local.returncode, remote.returncode) == (0, 0)
    lo, re_ = json.loads(local.stdout), json.loads(remote.stdout)
    for doc in (lo, re_):
        doc.pop("disk_bytes")
    assert lo == re_
    # usage errors: the same exit code and nothing on stdout
    for args in (
        ("search", "x", "--where", "nope=1"),
        ("search", "x", "--collection", "other"),
        ("ingest", docs, "--spec", str(root / "missing.yaml")),
        ("search", "x", "-k", "0"),
        ("ask", "x", "--where", "nope=1"),
    ):
        local, remote = _both(root, server, *args)
        _same(local, remote)
        assert local.returncode == 2, local.stderr


def test_flags_the_server_cannot_honour_are_usage_errors(pair: tuple[Path, Server]) -> None:
    root, server = pair
    docs = str(root / "docs")
    for flags in (("--workers", "2"), ("--key-base", str(root))):
        got = cli(root, "ingest", docs, *flags, "--server", server.url, key="s3cret-key")
        assert got.returncode == 2, got.stderr
        assert flags[0] in got.stderr
        assert got.stdout == ""
    got = cli(root, "search", "x", "--data-dir", "elsewhere", "--server", server.url)
    assert got.returncode == 2
    assert "--data-dir" in got.stderr


def test_a_server_that_is_down_is_a_backend_failure(tmp_path: Path) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    for args in (("search", "x"), ("ingest", str(tmp_path))):
        got = cli(tmp_path, *args, "--server", url)
        assert (got.returncode, got.stdout) == (3, ""), got.stderr
        assert "[NETWORK]" in got.stderr


def test_a_wrong_key_is_a_usage_failure_the_server_classifies(pair: tuple[Path, Server]) -> None:
    root, server = pair
    got = cli(root, "search", "x", "--server", server.url, key="wrong")
    assert (got.returncode, got.stdout) == (2, ""), got.stderr
    assert "[AUTH]" in got.stderr
    assert "FUNCPIPE_API_KEY" in got.stderr
