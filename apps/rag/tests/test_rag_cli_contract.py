"""The CLI contract of rag-app.md, run as a user runs it: the real console script in a
subprocess (exit codes, one-line messages, hints, signals, a closed stdout, help), from two
working directories on one store, over a mixed folder, and the management commands."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
from funcpipe.testing.embeddings_server import EmbeddingsServer, Fault
from rag_doubles import HashEmbedder

EXE = str(Path(sys.executable).parent / "funcpipe-rag")


def run(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FUNCPIPE_")}
    return subprocess.run(
        [EXE, *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_line_error(res: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of an expected failure (no traceback)."""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert "Fix:" in lines[0]
    return lines[0]


def write(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


DOCS = {
    "rst/csv.rst": "CSV\n===\n\nThe csv module reads and writes rows of comma separated values.\n",
    "rst/json.rst": "JSON\n====\n\nThe json module encodes and decodes JSON documents.\n",
    "rst/sub/intro.md": "# Intro\n\nAn introduction to the standard library modules.\n",
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project folder with docs under ``c/rst`` and a store at ``.funcpipe``, ingested
    once (the bundled model loads once per process: shared to keep the suite fast)."""
    root = tmp_path_factory.mktemp("proj")
    write(root / "c", DOCS)
    res = run(
        "ingest",
        "rst",
        "--json",
        cwd=root / "c",
        env={"FUNCPIPE_DATA_DIR": str(root / ".funcpipe")},
    )
    assert res.returncode == 0, res.stderr
    return root


def env_of(root: Path) -> dict[str, str]:
    return {"FUNCPIPE_DATA_DIR": str(root / ".funcpipe")}


# -- finding 1: keys do not depend on the working directory ----------------------------------


def test_the_same_tree_from_two_working_directories_gets_the_same_keys(store: Path) -> None:
    first = json.loads(run("sources", "--json", cwd=store, env=env_of(store)).stdout)
    keys = sorted(e["source"] for e in first)
    assert keys == ["c/rst/csv.rst", "c/rst/json.rst", "c/rst/sub/intro.md"]
    # ingested first from <root>/c as `rst`; again from <root> as `c/rst`: nothing new
    again = run("ingest", "c/rst", "--json", cwd=store, env=env_of(store))
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert (summary["sources_unchanged"], summary["sources_added"]) == (3, 0)
    # and from a sibling folder by an absolute path
    elsewhere = store / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    res = run("ingest", str(store / "c" / "rst"), "--json", cwd=elsewhere, env=env_of(store))
    assert json.loads(res.stdout)["sources_added"] == 0
    hits = json.loads(
        run(
            "search", "csv module rows", "-k", "10", "--json", cwd=elsewhere, env=env_of(store)
        ).stdout
    )
    assert len({h["source"] for h in hits}) == len(hits) == 3  # no copy side by side
    assert all(not h["source"].startswith("/") for h in hits)  # no machine path in a key


def test_key_base_override(tmp_path: Path) -> None:
    write(tmp_path / "proj", {"docs/a.md": "# A\n\nAlpha text about keys.\n"})
    env = {"FUNCPIPE_DATA_DIR": str(tmp_path / "data" / ".funcpipe")}
    res = run(
        "ingest",
        "docs",
        "--key-base",
        str(tmp_path / "proj" / "docs"),
        "--json",
        cwd=tmp_path / "proj",
        env=env,
    )
    assert res.returncode == 0, res.stderr
    keys = [e["source"] for e in json.loads(run("sources", "--json", cwd=tmp_path, env=env).stdout)]
    assert keys == ["a.md"]


# -- finding 2: a mixed folder exits 0 with the right skipped counts --------------------------


def test_a_mixed_folder_skips_and_counts_and_exits_0(tmp_path: Path) -> None:
    mixed = tmp_path / "doc"
    write(mixed, {"pkg/README.md": "# Pkg\n\nThe package readme text.\n", "pkg/copyright": "C"})
    (mixed / "pkg" / "logo.png").write_bytes(b"\x89PNG\r\n")
    (mixed / "pkg" / "changelog.md.gz").write_bytes(gzip.compress(b"# Changes\n\nFixed keys.\n"))
    (mixed / "pkg" / "changelog.Debian.gz").write_bytes(gzip.compress(b"old"))
    outside = tmp_path / "shared"
    write(outside, {"guide.txt": "A guide kept outside the walked folder.\n"})
    os.symlink(outside, mixed / "linked")  # a symlinked folder: followed once
    os.symlink(outside, mixed / "linked-again")  # a second link to it: skipped, counted
    os.symlink(mixed / "pkg", mixed / "pkg-alias")  # a link inside the walked root: skipped
    env = {"FUNCPIPE_DATA_DIR": str(tmp_path / ".funcpipe")}
    res = run("ingest", "doc", "--json", cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["errors"] == []
    assert summary["sources_added"] == 3
    assert summary["sources_skipped"] == {"(none)": 1, "(second link)": 2, ".gz": 1, ".png": 1}
    keys = {e["source"] for e in json.loads(run("sources", "--json", cwd=tmp_path, env=env).stdout)}
    assert keys == {"doc/linked/guide.txt", "doc/pkg/README.md", "doc/pkg/changelog.md.gz"}
    # a file named explicitly with such an extension is still UNSUPPORTED (exit 4)
    res = run("ingest", "doc/pkg/logo.png", "--json", cwd=tmp_path, env=env)
    assert res.returncode == 4
    assert [e["code"] for e in json.loads(res.stdout)["errors"]] == ["UNSUPPORTED"]
    # --exclude / --include (gitignore syntax)
    res = run(
        "ingest",
        "doc",
        "--exclude",
        "linked/",
        "--include",
        "*.md",
        "--dry-run",
        "--json",
        cwd=tmp_path,
        env=env,
    )
    assert json.loads(res.stdout)["sources_seen"] == 1  # only pkg/README.md; .md.gz not *.md


def test_loops_and_whitespace_get_their_own_codes(tmp_path: Path) -> None:
    os.symlink(tmp_path / "self", tmp_path / "self")
    (tmp_path / "blank.md").write_text("  \n\n \t")
    env = {"FUNCPIPE_DATA_DIR": str(tmp_path / ".funcpipe")}
    res = run("ingest", "self", "blank.md", "--json", cwd=tmp_path, env=env)
    assert res.returncode == 4
    errors = {e["source"]: e for e in json.loads(res.stdout)["errors"]}
    assert errors["self"]["code"] == "INVALID_INPUT"
    assert "loop" in errors["self"]["msg"]
    assert errors["blank.md"]["code"] == "EMPTY_INPUT"
    assert "whitespace" in errors["blank.md"]["msg"]
    assert "empty file" not in errors["blank.md"]["msg"]


# -- finding 4: exit codes and messages --------------------------------------------------------


def test_usage_and_configuration_errors_exit_2_with_one_fitting_line(store: Path) -> None:
    env = env_of(store)
    cases: list[tuple[tuple[str, ...], dict[str, str], str]] = [
        (("search", ""), {}, "INVALID_INPUT"),
        (
            ("search", "x"),
            {"FUNCPIPE_EMBED_URL": "127.0.0.1:18801", "FUNCPIPE_EMBED_MODEL": "m"},
            "FUNCPIPE_EMBED_URL",
        ),
        (("search", "x", "--qdrant-url", "not-a-url"), {}, "--qdrant-url"),
        (("search", "x", "--collection", "never_made"), {}, "NOT_FOUND"),
        (("search", "x"), {"FUNCPIPE_EMBED_DIM": "64"}, "embedder"),  # another dimension
        (("spec", "show", "--format", "toml"), {}, "spec show --help"),
        (("collection", "drop", "funcpipe"), {}, "--yes"),
        (("ingest", "c", "--exclude", "a\\"), {}, "pattern"),
    ]
    for args, extra, needle in cases:
        res = run(*args, cwd=store, env={**env, **extra})
        assert res.returncode == 2, (args, res.stderr)
        line = one_line_error(res)
        assert needle in line, (args, line)
        assert "report it" not in line  # the generic hint is for the unexpected only


def test_a_backend_that_is_down_is_3(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = run("stats", "--qdrant-url", f"http://127.0.0.1:{port}", cwd=tmp_path)
    assert res.returncode == 3, res.stderr
    assert "[NETWORK]" in one_line_error(res)


def test_a_404_page_is_one_line_without_its_html(tmp_path: Path) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!DOCTYPE html>\n<html>\n<body>\n<h1>Not here</h1>\n</body>\n</html>\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"HTTP://127.0.0.1:{httpd.server_address[1]}/rst/../rst/gone.html"
        env = {"FUNCPIPE_DATA_DIR": str(tmp_path / ".funcpipe")}
        res = run("ingest", url, "--json", cwd=tmp_path, env=env)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert res.returncode == 4, res.stderr
    (err,) = json.loads(res.stdout)["errors"]
    assert err["source"] == f"http://127.0.0.1:{httpd.server_address[1]}/rst/gone.html"
    assert err["code"] == "NOT_FOUND"
    assert "\n" not in err["msg"]
    assert "<" not in err["msg"]
    assert "404 Not Found" in err["msg"]


def test_a_closed_stdout_ends_quietly_with_0(store: Path) -> None:
    for args in (
        ("spec", "show"),
        ("spec", "hash"),
        ("sources", "--json"),
        ("sources",),
        ("--help",),
    ):
        base = {k: v for k, v in os.environ.items() if not k.startswith("FUNCPIPE_")}
        proc = subprocess.Popen(
            [EXE, *args],
            cwd=store,
            env={**base, **env_of(store)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.close()  # the reader is gone before the first write: EPIPE
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 0, (args, err)
        assert err == "", (args, err)


# -- signals: 130 / 143 with the partial summary; a re-run converges --------------------------


def hash_fn(dim: int) -> Callable[[list[str]], list[list[float]]]:
    hasher = HashEmbedder(dim)
    return lambda texts: [hasher.vector(t) or [1.0] + [0.0] * (dim - 1) for t in texts]


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_ingest_prints_the_partial_summary(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    docs = tmp_path / "docs"
    write(
        docs,
        {f"p{i:02}.md": f"# Page {i}\n\nText number {i} about topic {i % 5}.\n" for i in range(24)},
    )

    def slow(texts: Sequence[str], attempt: int) -> Fault:
        return Fault.slow(0.4)  # every request takes a while

    with EmbeddingsServer(hash_fn(16), model="hash-16", fault_for=slow) as server:
        env = {
            "FUNCPIPE_DATA_DIR": str(tmp_path / ".funcpipe"),
            "FUNCPIPE_EMBED_URL": server.base_url,
            "FUNCPIPE_EMBED_MODEL": "hash-16",
            "FUNCPIPE_EMBED_DIM": "16",
        }
        spec = tmp_path / "small.yaml"
        spec.write_text(small_batch_spec())
        base = {k: v for k, v in os.environ.items() if not k.startswith("FUNCPIPE_")}
        proc = subprocess.Popen(
            [EXE, "ingest", "docs", "--spec", str(spec), "--json"],
            cwd=tmp_path,
            env={**base, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while len(server.requests) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == code, err
        partial = json.loads(out)
        assert partial["interrupted"] is True
        assert partial["sources_added"] < 24
        assert "interrupted" in one_line_error(subprocess.CompletedProcess([], code, out, err))
        server.fault_for = None
        again = run("ingest", "docs", "--spec", str(spec), "--json", cwd=tmp_path, env=env)
        assert again.returncode == 0, again.stderr
        done = json.loads(again.stdout)
        assert done["sources_added"] + done["sources_updated"] + done["sources_unchanged"] == 24
        assert "interrupted" not in done
        ok = run("verify", "--json", cwd=tmp_path, env=env)
        assert ok.returncode == 0, ok.stdout
        assert json.loads(ok.stdout)["ok"] is True
        assert json.loads(ok.stdout)["sources"] == 24


def small_batch_spec() -> str:
    """The default spec with one source per embedding request (a run of many requests)."""
    from funcpipe.specs import serialize
    from rag_doubles import fast_retry_spec

    spec = fast_retry_spec(
        "one-by-one", attempts=3, group=1, embed_batch=1, concurrency=1, write_group=1
    )
    return serialize(spec, "yaml")


# -- finding 3, 6, 7: management, --spec's collection, help, repair ---------------------------


def test_management_commands_round_trip_with_json(tmp_path: Path) -> None:
    write(
        tmp_path / "docs",
        {"a.md": "# A\n\nAlpha.\n", "b/c.md": "# C\n\nGamma.\n", "b/d.md": "# D\n\nDelta.\n"},
    )
    env = {"FUNCPIPE_DATA_DIR": str(tmp_path / ".funcpipe")}
    assert run("ingest", "docs", "--collection", "one", cwd=tmp_path, env=env).returncode == 0
    cols = json.loads(run("collections", "--json", cwd=tmp_path, env=env).stdout)
    assert [(c["name"], c["sources"]) for c in cols] == [("one", 3)]
    st = json.loads(run("stats", "--collection", "one", "--json", cwd=tmp_path, env=env).stdout)
    assert (st["sources"], st["chunks"], st["points"]) == (3, 3, 7)
    assert st["embedder"].endswith("@256")
    assert st["disk_bytes"] > 0
    res = run("delete", "docs/b/*", "--collection", "one", "--json", cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {
        "deleted": ["docs/b/c.md", "docs/b/d.md"],
        "chunks_deleted": 2,
        "errors": [],
    }
    res = run("delete", "docs/nothing.md", "--collection", "one", "--json", cwd=tmp_path, env=env)
    assert res.returncode == 4
    assert json.loads(res.stdout)["errors"][0]["code"] == "NOT_FOUND"
    srcs = json.loads(run("sources", "--collection", "one", "--json", cwd=tmp_path, env=env).stdout)
    assert [s["source"] for s in srcs] == ["docs/a.md"]
    assert srcs[0]["chunks"] == 1
    res = run("collection", "drop", "one", "--yes", "--json", cwd=tmp_path, env=env)
    assert json.loads(res.stdout) == {"collection": "one", "dropped": True}
    assert json.loads(run("collections", "--json", cwd=tmp_path, env=env).stdout) == []


def test_search_and_verify_find_the_collection_a_spec_names(tmp_path: Path) -> None:
    from funcpipe.specs import serialize
    from funcpipe_rag.pipelines import DEFAULT_SPEC

    write(tmp_path / "docs", {"a.md": "# A\n\nAlpha text about retries.\n"})
    named = DEFAULT_SPEC.model_copy(
        update={"resources": {**DEFAULT_SPEC.resources, "collection": "mine"}}
    )
    spec = tmp_path / "mine.yaml"
    spec.write_text(serialize(named, "yaml"))
    sealed = run("spec", "seal", str(spec), cwd=tmp_path)
    assert sealed.returncode == 0, sealed.stderr
    spec.write_text(sealed.stdout)
    env = {"FUNCPIPE_DATA_DIR": str(tmp_path / ".funcpipe")}
    assert run("ingest", "docs", "--spec", str(spec), cwd=tmp_path, env=env).returncode == 0
    res = run("search", "retries", "--spec", str(spec), "--json", cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)[0]["source"] == "docs/a.md"
    res = run("verify", "--spec", str(spec), "--json", cwd=tmp_path, env=env)
    assert json.loads(res.stdout)["sources"] == 1
    plain = run("search", "retries", cwd=tmp_path, env=env)  # the default collection: none
    assert plain.returncode == 2
    assert "--spec" in one_line_error(plain)


def test_verify_repair_json_lists_what_it_removed(tmp_path: Path) -> None:
    import asyncio

    from funcpipe.result import Err
    from funcpipe_rag.app import Settings, open_index

    write(tmp_path / "docs", {"a.md": "# A\n\nAlpha.\n", "b.md": "# B\n\nBeta.\n"})
    env = {"FUNCPIPE_DATA_DIR": str(tmp_path / ".funcpipe")}
    assert run("ingest", "docs", cwd=tmp_path, env=env).returncode == 0

    async def drop_marker() -> None:  # b.md's chunks stay: an orphan
        s = Settings(data_dir=tmp_path / ".funcpipe")
        async with open_index(s, "funcpipe") as opened:
            assert not isinstance(opened, Err)
            commits = (await opened.value.commits()()).unwrap()
            await opened.value.delete([c.id for c in commits if c.source == "docs/b.md"])()

    asyncio.run(drop_marker())
    res = run("verify", "--repair", "--json", cwd=tmp_path, env=env)
    doc = json.loads(res.stdout)
    assert res.returncode == 0
    assert doc["ok"] is True
    assert [(p["source"], p["code"]) for p in doc["repaired"]] == [("docs/b.md", "ORPHAN")]
    assert len(doc["removed"]) == 1


def test_help_is_clean_and_names_every_variable(tmp_path: Path) -> None:
    assert run("--version", cwd=tmp_path).stdout.startswith("funcpipe-rag ")
    top = run("-h", cwd=tmp_path)
    assert top.returncode == 0
    for cmd in (
        "ingest",
        "search",
        "verify",
        "sources",
        "stats",
        "collections",
        "delete",
        "collection",
        "spec",
        "demo",
    ):
        assert cmd in top.stdout
    helps = {
        args: run(*args, "-h", cwd=tmp_path).stdout
        for args in (
            ("ingest",),
            ("search",),
            ("verify",),
            ("sources",),
            ("stats",),
            ("collections",),
            ("delete",),
            ("collection", "drop"),
            ("spec", "show"),
        )
    }
    for args, text in helps.items():
        assert text.startswith("Usage: funcpipe-rag"), args
        for bad in ("<str>", "<list", "<path>", "<int", "{", "}"):
            assert bad not in text, (args, bad, text)
    for args in (("ingest",), ("search",), ("verify",), ("sources",), ("stats",), ("delete",)):
        for var in (
            "FUNCPIPE_DATA_DIR",
            "FUNCPIPE_QDRANT_URL",
            "FUNCPIPE_QDRANT_API_KEY",
            "FUNCPIPE_COLLECTION",
        ):
            assert var in helps[args], (args, var)
    for args in (("ingest",), ("search",)):
        for var in (
            "FUNCPIPE_EMBED_URL",
            "FUNCPIPE_EMBED_MODEL",
            "FUNCPIPE_EMBED_API_KEY",
            "FUNCPIPE_EMBED_DIM",
        ):
            assert var in helps[args], (args, var)
    assert "FUNCPIPE_KEY_BASE" in helps[("ingest",)]
    assert "Usage: funcpipe-rag ingest [OPTIONS] PATH_OR_URL..." in helps[("ingest",)]
    assert "relative to" in helps[("ingest",)]  # the key rule
