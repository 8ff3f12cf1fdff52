"""serve's boundaries, tried as an attacker would (issue 28), against a real server: symlinks
out of the allowed roots, glob deletes, Host headers, unbounded requests, JSON errors. The
in-process races and the drawn-tree property are in test_rag_security_files, the network
boundary in test_rag_security_net.

Real files and links in tmp dirs, a real ``serve`` on 127.0.0.1 and a stub resolver: nothing
here sends a packet beyond loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from funcpipe.result import Ok
from funcpipe_rag.adapters import OUTSIDE_ROOT, EmbedderPort
from funcpipe_rag.app import Settings, run_delete, run_ingest, run_sources
from funcpipe_rag.app.service import open_service
from funcpipe_rag.pipelines import DEFAULT_SETTINGS, match_sources
from funcpipe_rag.serve import AppOptions, Limits, create_app
from funcpipe_rag.serve._protocol import protocol_for
from hypothesis import given
from hypothesis import strategies as st
from rag_doubles import HashEmbedder, Server, clean_env, start

SECRET = "zebracorn secret outside the root"
DEL_FILES = ("x[1].md", "x1.md", "g1.md", "g2.md", "keep.md", "*.md")


def outside_tree(base: Path) -> Path:
    out = base / "outside"
    (out / "dir").mkdir(parents=True, exist_ok=True)
    (out / "secret.md").write_text(f"# Secret\n\n{SECRET}\n", "utf-8")
    (out / "dir" / "other.md").write_text(f"# Other\n\n{SECRET} too\n", "utf-8")
    return out


def wait_job(c: httpx.Client, job: str) -> dict[str, object]:
    for _ in range(1200):
        doc: dict[str, object] = c.get(f"/v1/jobs/{job}").json()
        if doc["status"] not in ("queued", "running"):
            return doc
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def report_of(c: httpx.Client, body: dict[str, object]) -> dict[str, object]:
    r = c.post("/v1/ingest", json=body)
    assert r.status_code == 202, r.text
    doc = wait_job(c, r.json()["job"])
    assert doc["status"] == "done", doc
    report = doc["report"]
    assert isinstance(report, dict)
    return report


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """A key-less loopback server allowed to read ``docs`` only, holding links in and out."""
    base = tmp_path_factory.mktemp("sec")
    out = outside_tree(base)
    docs = base / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.md").write_text("# A\n\nplain inside note\n", "utf-8")
    (docs / "sub" / "real.md").write_text("# Real\n\ninside file reached by a link\n", "utf-8")
    (docs / "inner.md").symlink_to(docs / "sub" / "real.md")
    (docs / "leak.md").symlink_to(out / "secret.md")
    (docs / "linkdir").symlink_to(out / "dir")
    if Path("/proc/self/status").exists():
        (docs / "proc.md").symlink_to("/proc/self/status")
    dels = base / "del"
    dels.mkdir()
    for name in DEL_FILES:
        (dels / name).write_text(f"# {name}\n\nnote on {name}\n", "utf-8")
    roots = ("--allow-root", str(docs), "--allow-root", str(dels))
    server = start(base, base / "store", *roots, key=None)
    with server.client(key=None) as c:  # the collection exists whichever test runs first
        report_of(c, {"paths": [str(docs / "a.md")]})
    yield server, base
    assert server.stop() == 0


# -- 1. the filesystem boundary ----------------------------------------------------------------


def test_links_out_of_the_root_are_skipped_counted_and_never_read(
    site: tuple[Server, Path],
) -> None:
    server, base = site
    with server.client(key=None) as c:
        report = report_of(c, {"paths": [str(base / "docs")]})
        listed = c.get("/v1/sources").json()
        keys = sorted(s["source"] for s in listed if s["source"].startswith("docs/"))
        hits = c.post("/v1/search", json={"query": "zebracorn secret", "k": 20}).json()
    assert keys == ["docs/a.md", "docs/inner.md", "docs/sub/real.md"]  # inside links work
    outside_links = 3 if (base / "docs" / "proc.md").is_symlink() else 2
    skipped = report["sources_skipped"]
    assert isinstance(skipped, dict)
    assert skipped[OUTSIDE_ROOT] == outside_links
    assert report["errors"] == []
    assert SECRET not in json.dumps(hits)


def test_an_explicit_link_out_of_the_root_is_refused_at_the_request(
    site: tuple[Server, Path],
) -> None:
    server, base = site
    with server.client(key=None) as c:  # the request's name lies inside; what it leads to does not
        r = c.post("/v1/ingest", json={"paths": [str(base / "docs" / "leak.md")]})
    assert (r.status_code, r.json()["code"]) == (403, "PERMISSION_DENIED")


# -- 2. exact deletes --------------------------------------------------------------------------


def _keys(c: httpx.Client) -> set[str]:
    return {s["source"] for s in c.get("/v1/sources").json() if s["source"].startswith("del/")}


def test_delete_removes_exactly_its_key_and_retries_are_harmless(
    site: tuple[Server, Path],
) -> None:
    server, base = site
    with server.client(key=None) as c:
        report_of(c, {"paths": [str(base / "del")]})
        every = {f"del/{n}" for n in DEL_FILES}
        assert _keys(c) == every
        for path in ("/v1/sources/%2A", "/v1/sources/del/%2A%2A", "/v1/sources/del/x%3F.md"):
            r = c.delete(path)  # glob characters are plain characters here
            assert (r.status_code, r.json()["code"]) == (404, "NOT_FOUND"), path
        assert _keys(c) == every
        first = c.delete("/v1/sources/del/x%5B1%5D.md")
        assert (first.status_code, first.json()["deleted"]) == (200, ["del/x[1].md"])
        for _ in range(3):  # a client's retries
            again = c.delete("/v1/sources/del/x%5B1%5D.md")
            assert (again.status_code, again.json()["code"]) == (404, "NOT_FOUND")
        star = c.delete("/v1/sources/del/%2A.md")  # the file really named *.md
        assert star.json()["deleted"] == ["del/*.md"]
        assert _keys(c) == every - {"del/x[1].md", "del/*.md"}

        dry = c.post("/v1/sources:delete", json={"glob": "del/g*.md", "dry_run": True})
        assert dry.status_code == 200, dry.text
        assert (dry.json()["matched"], dry.json()["dry_run"]) == (2, True)
        assert _keys(c) == every - {"del/x[1].md", "del/*.md"}
        done = c.post("/v1/sources:delete", json={"glob": "del/g*.md"})
        assert sorted(done.json()["deleted"]) == ["del/g1.md", "del/g2.md"]
        retry = c.post("/v1/sources:delete", json={"glob": "del/g*.md"})
        assert (retry.status_code, retry.json()["matched"]) == (200, 0)
        assert _keys(c) == {"del/x1.md", "del/keep.md"}
        bad = c.post("/v1/sources:delete", json={"glob": "x" * 5000})
        assert (bad.status_code, bad.json()["code"]) == (400, "INVALID_INPUT")


@given(st.sets(st.sampled_from(["a", "a*", "[a]", "b?", "ab", "*"]), max_size=6), st.data())
def test_an_exact_delete_matches_only_its_own_key(keys: set[str], data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(["a", "a*", "[a]", "b?", "ab", "*", "zz"]))
    left = set(keys)
    for attempt in range(3):  # the first delete and two retries
        hit, missed = match_sources(left, [key], exact=True)
        assert hit == ([key] if attempt == 0 and key in keys else [])
        assert missed == ([] if hit else [key])
        left -= set(hit)
    assert left == keys - {key}


def test_cli_delete_exact_and_dry_run(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("x[1].md", "x1.md", "g1.md"):
        (docs / name).write_text(f"# {name}\n\nabout {name}\n", "utf-8")
    s = Settings(data_dir=tmp_path / "store")
    emb = EmbedderPort(HashEmbedder(8))
    run = asyncio.run(run_ingest(s, DEFAULT_SETTINGS, [str(docs)], base=tmp_path, embedder=emb))
    assert isinstance(run, Ok)
    dry = asyncio.run(run_delete(s, "funcpipe", ["docs/*"], dry_run=True))
    assert isinstance(dry, Ok)
    assert len(dry.value.deleted) == 3
    for attempt in range(2):
        got = asyncio.run(run_delete(s, "funcpipe", ["docs/x[1].md"], exact=True))
        assert isinstance(got, Ok)
        assert got.value.deleted == (("docs/x[1].md",) if attempt == 0 else ())
    listed = asyncio.run(run_sources(s, "funcpipe"))
    assert isinstance(listed, Ok)
    assert [e.source for e in listed.value] == ["docs/g1.md", "docs/x1.md"]


# -- 3. requests: hosts, methods, bounded work, JSON errors -----------------------------------


def test_a_keyless_server_answers_loopback_host_names_only(site: tuple[Server, Path]) -> None:
    server, _ = site
    port = server.url.rsplit(":", 1)[1]
    with server.client(key=None) as c:
        for host in ("evil.test", f"evil.test:{port}", "127.0.0.1.nip.io", "[::2]"):
            r = c.get("/v1/sources", headers={"host": host})
            assert (r.status_code, r.json()["code"]) == (403, "PERMISSION_DENIED"), host
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "[::1]:1", "LOCALHOST"):
            assert c.get("/healthz", headers={"host": host}).status_code == 200, host


def test_state_changes_only_on_post_or_delete(site: tuple[Server, Path]) -> None:
    server, _ = site
    with server.client(key=None) as c:
        get = c.get("/v1/verify", params={"repair": "true"})
        assert (get.status_code, get.json()["code"]) == (405, "METHOD_NOT_ALLOWED")
        assert c.get("/v1/verify").status_code == 200
        post = c.post("/v1/verify", json={"repair": True})
        assert post.status_code == 200, post.text
        assert post.json()["ok"] is True


def test_bad_input_is_json_never_a_traceback_nor_a_credential(site: tuple[Server, Path]) -> None:
    server, base = site
    with server.client(key=None) as c:
        bracket = c.post("/v1/ingest", json={"urls": ["http://[::1"]})
        assert (bracket.status_code, bracket.json()["code"]) == (400, "INVALID_INPUT")
        cred = c.post("/v1/ingest", json={"urls": ["http://user:hunter2@127.0.0.1:9/x"]})
        assert cred.status_code == 403
        assert "hunter2" not in cred.text
        nul = c.delete("/v1/sources/a%00b")
        assert nul.status_code == 400
        long_glob = c.post("/v1/search", json={"query": "x", "source": ["*" * 600]})
        assert (long_glob.status_code, long_glob.json()["code"]) == (400, "INVALID_INPUT")
        many = {f"f{i}": "v" for i in range(17)}
        wide = c.post("/v1/search", json={"query": "x", "where": many})
        assert (wide.status_code, wide.json()["code"]) == (400, "INVALID_INPUT")
        urls = [f"http://h{i}.test/" for i in range(33)]
        capped = c.post("/v1/ingest", json={"urls": urls})
        assert (capped.status_code, capped.json()["code"]) == (400, "INVALID_INPUT")
    for r in (bracket, cred, nul, long_glob, wide, capped):
        assert {"code", "msg"} <= set(r.json())
        assert "Traceback" not in r.text
        assert str(base) not in r.json()["msg"] or r is cred


def _raw(url: str, data: bytes) -> bytes:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as s:
        with contextlib.suppress(OSError):  # the server may stop reading: take its answer
            s.sendall(data)
        chunks = []
        with contextlib.suppress(ConnectionResetError):
            while chunk := s.recv(65536):
                chunks.append(chunk)
    return b"".join(chunks)


def test_a_huge_head_is_refused_before_it_is_read(site: tuple[Server, Path]) -> None:
    server, _ = site
    head = b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n" + b"x-pad: " + b"a" * 200_000
    answer = _raw(server.url, head + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431")
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["code"] == "TOO_LARGE"
    garbage = _raw(server.url, b"NOT HTTP AT ALL\r\n\r\n")
    assert garbage.startswith(b"HTTP/1.1 400")
    assert json.loads(garbage.split(b"\r\n\r\n", 1)[1])["code"] == "INVALID_INPUT"


def test_slow_or_idle_connections_are_closed() -> None:
    """The protocol alone on a loopback uvicorn with short timeouts: an idle connection and a
    half-sent head get a 408 and are closed; a half-sent body is closed."""

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        raise AssertionError("the app must not run")

    limits = Limits(head_timeout_s=0.2, body_timeout_s=0.2)
    sock = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(app, http=protocol_for(limits), lifespan="off", log_level="error")
    server = uvicorn.Server(config)

    async def scenario() -> list[bytes]:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        got = [
            await asyncio.to_thread(_raw, url, b""),
            await asyncio.to_thread(_raw, url, b"GET /x HTTP/1.1\r\nhost: 127.0.0.1\r\n"),
            await asyncio.to_thread(
                _raw, url, b"POST /x HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\nab"
            ),
        ]
        server.should_exit = True
        await task
        return got

    idle, half_head, half_body = asyncio.run(scenario())
    assert idle.startswith(b"HTTP/1.1 408")
    assert half_head.startswith(b"HTTP/1.1 408")
    assert json.loads(half_head.split(b"\r\n\r\n", 1)[1])["code"] == "TIMEOUT"
    assert b"200" not in half_body.split(b"\r\n", 1)[0]


def test_cors_preflight_is_answered_before_the_key(tmp_path: Path) -> None:
    async def scenario() -> list[httpx.Response]:
        opened_cm = open_service(
            Settings(data_dir=tmp_path / "store"), embedder=EmbedderPort(HashEmbedder(8))
        )
        async with opened_cm as opened:
            assert isinstance(opened, Ok)
            app = create_app(
                opened.value, AppOptions(api_key="k3y", cors_origins=("http://ui.test",))
            )
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://any.host") as c:
                pre = await c.options(
                    "/v1/search",
                    headers={
                        "origin": "http://ui.test",
                        "access-control-request-method": "POST",
                        "access-control-request-headers": "authorization,content-type",
                    },
                )
                nokey = await c.get("/v1/sources", headers={"origin": "http://ui.test"})
                keyed = await c.get(
                    "/v1/stats", headers={"origin": "http://ui.test", "authorization": "Bearer k3y"}
                )
                return [pre, nokey, keyed]

    pre, nokey, keyed = asyncio.run(scenario())
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == "http://ui.test"
    assert nokey.status_code == 401  # the key is still asked of the real request
    assert nokey.headers["access-control-allow-origin"] == "http://ui.test"  # readable
    assert keyed.status_code in (200, 404)  # with a key any Host is served


def test_cli_no_links_out_refuses_links_leaving_the_given_folders(tmp_path: Path) -> None:
    out = outside_tree(tmp_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nmine\n", "utf-8")
    (docs / "leak.md").symlink_to(out / "secret.md")
    run = subprocess.run(
        [
            *(sys.executable, "-m", "funcpipe_rag.cli", "ingest", str(docs), "--no-links-out"),
            *("--json", "--dry-run", "--data-dir", str(tmp_path / "store")),
        ],
        cwd=tmp_path,
        env=clean_env(None),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert (report["sources_added"], report["sources_skipped"]) == (1, {OUTSIDE_ROOT: 1})
