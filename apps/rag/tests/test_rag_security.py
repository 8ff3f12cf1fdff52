"""serve's boundaries, tried as an attacker would (issue 28): symlinks out of the allowed roots,
a file swapped after the check, DNS rebinding, glob deletes, unbounded requests, Host headers.

Real files and links in tmp dirs, a real ``serve`` on 127.0.0.1 and a stub resolver: nothing
here sends a packet beyond loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import httpx
import pytest
import uvicorn
from funcpipe.result import Err, Ok
from funcpipe_rag.adapters import OUTSIDE_ROOT, Confine, EmbedderPort, FileRaw, RootsSource
from funcpipe_rag.app import (
    Guard,
    JobRequest,
    ServiceOptions,
    Settings,
    open_service,
    run_delete,
    run_ingest,
    run_sources,
)
from funcpipe_rag.app._addresses import embedded_ipv4, is_public
from funcpipe_rag.app._guard import check_url
from funcpipe_rag.app._jobs import JobBoard
from funcpipe_rag.pipelines import DEFAULT_SETTINGS, match_sources
from funcpipe_rag.serve import AppOptions, Limits, create_app
from funcpipe_rag.serve._protocol import protocol_for
from hypothesis import given, settings
from hypothesis import strategies as st
from rag_doubles import FlipResolver, HashEmbedder, Server, clean_env, start

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


def _service_options(root: Path, base: Path) -> ServiceOptions:
    return ServiceOptions(guard=Guard(roots=(root,)), base=base)


def test_a_file_swapped_for_a_link_after_the_202_is_not_read(tmp_path: Path) -> None:
    """The barrier: the job runs on this test's loop, so it cannot start before the test
    awaits; the swap happens after the request was checked and accepted, before any read."""
    out = outside_tree(tmp_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    target = docs / "a.md"
    target.write_text("# A\n\nchecked and harmless\n", "utf-8")
    (docs / "b.md").write_text("# B\n\nstays as it was\n", "utf-8")

    async def scenario() -> tuple[dict[str, object], list[str]]:
        settings_ = Settings(data_dir=tmp_path / "store")
        opened_cm = open_service(
            settings_, _service_options(docs, tmp_path), embedder=EmbedderPort(HashEmbedder(16))
        )
        async with opened_cm as opened:
            assert isinstance(opened, Ok)
            svc = opened.value
            svc.jobs = JobBoard(svc._run_job, threaded=False)
            started = await svc.start_ingest(JobRequest(paths=(str(target), str(docs / "b.md"))))
            assert isinstance(started, Ok)  # the 202: the path was checked and is allowed
            target.unlink()
            target.symlink_to(out / "secret.md")
            job = started.value
            assert await asyncio.to_thread(job.done.wait, 120)
            listed = await svc.sources()
            assert isinstance(listed, Ok)
            return job.to_json(), [s.source for s in listed.value]

    doc, keys = asyncio.run(scenario())
    assert doc["status"] == "done", doc
    assert keys == ["docs/b.md"]
    assert SECRET not in json.dumps(doc)


def test_a_swap_between_the_walk_and_the_read_is_refused(tmp_path: Path) -> None:
    out = outside_tree(tmp_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nwalked while inside\n", "utf-8")
    source = RootsSource([str(docs)], base=tmp_path, confine=Confine.of([docs]))

    async def scenario() -> list[object]:
        got: list[object] = []
        async for item in source.sources()():
            assert isinstance(item, Ok)
            raw = item.value
            assert isinstance(raw, FileRaw)
            (docs / "a.md").unlink()  # the barrier: between the walk's yield and the read
            (docs / "a.md").symlink_to(out / "secret.md")
            got.append(await raw.read(1 << 20)())
        return got

    (read,) = asyncio.run(scenario())
    assert isinstance(read, Err)
    assert read.error.code == "PERMISSION_DENIED"
    assert str(tmp_path) not in read.error.msg  # named relative to its root
    assert read.error.msg.startswith("docs/a.md")


# A drawn tree: folders, files and links (to inside names, to outside files and folders, to
# the root, to a parent, dangling) under a root; every inside file holds a unique mark.
_NAMES = st.sampled_from(["a", "b", "c"])
_PATHS = st.lists(_NAMES, min_size=1, max_size=3).map(tuple)
_TARGETS = st.one_of(
    st.sampled_from(["@secret", "@dir", "@proc", "@root", "@parent", "@missing", "@self"]),
    _PATHS,
)
Op = tuple[str, tuple[str, ...], str | tuple[str, ...] | None]
_OPS: st.SearchStrategy[list[Op]] = st.lists(
    st.one_of(
        st.tuples(st.just("dir"), _PATHS, st.none()),
        st.tuples(st.just("file"), _PATHS, st.none()),
        st.tuples(st.just("link"), _PATHS, _TARGETS),
    ),
    max_size=14,
)


def _build(root: Path, out: Path, ops: list[Op]) -> set[str]:
    """Make the tree; the marks of the files reachable without a link."""
    marks: set[str] = set()
    for n, (kind, parts, target) in enumerate(ops):
        path = root.joinpath(*parts)
        if kind == "file":
            path = path.with_name(path.name + ".md")
        if not path.parent.is_dir() or path.is_symlink() or path.exists():
            continue
        if kind == "dir":
            path.mkdir()
        elif kind == "file":
            mark = f"insidemark{n}"
            path.write_text(f"# F\n\n{mark}\n", "utf-8")
            if not any(p.is_symlink() for p in [path, *path.parents]):
                marks.add(mark)
        else:
            fixed = {
                "@secret": out / "secret.md",
                "@dir": out / "dir",
                "@proc": Path("/proc/self/status"),
                "@root": root,
                "@parent": path.parent.parent,
                "@missing": out / "missing.md",
                "@self": path,
            }
            dest = fixed[target] if isinstance(target, str) else root.joinpath(*(target or ()))
            os.symlink(os.path.relpath(dest, path.parent), path)
    return marks


@settings(max_examples=40, deadline=None)
@given(_OPS)
def test_no_drawn_tree_yields_a_source_outside_the_root(
    ops: list[Op],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        out = outside_tree(base)
        root = base / "root"
        root.mkdir()
        marks = _build(root, out, ops)
        source = RootsSource([str(root)], base=base, confine=Confine.of([root]))

        async def texts() -> list[str]:
            got: list[str] = []
            async for item in source.sources()():
                if isinstance(item, Ok):
                    assert isinstance(item.value, FileRaw)
                    real = await asyncio.to_thread(os.path.realpath, item.value.path)
                    assert real.startswith(str(root.resolve()) + os.sep)
                    read = await item.value.read(1 << 20)()
                    if isinstance(read, Ok):
                        got.append(read.value)
            return got

        read = asyncio.run(texts())
        assert not any("zebracorn" in t or "VmRSS" in t for t in read)
        assert marks <= {m for t in read for m in marks if m in t}  # inside files all read


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


# -- 3. the network boundary -------------------------------------------------------------------

_V4 = st.ip_addresses(v=4).map(lambda a: IPv4Address(int(a)))


def _forms(v: IPv4Address, low: int) -> list[IPv6Address]:
    """``v`` embedded in each IPv6 form that can deliver to it (``low``: the free bits)."""
    n = int(v)
    return [
        IPv6Address((0xFFFF << 32) | n),  # ::ffff:a.b.c.d
        IPv6Address((0xFFFF << 48) | n),  # ::ffff:0:a.b.c.d
        IPv6Address(n),  # ::a.b.c.d
        IPv6Address((0x64FF9B << 96) | n),  # 64:ff9b::a.b.c.d
        IPv6Address((0x64FF9B0001 << 80) | (low & 0xFFFF) << 32 | n),  # 64:ff9b:1::/48
        IPv6Address((0x2002 << 112) | (n << 80) | (low & ((1 << 80) - 1))),  # 6to4
        IPv6Address((0x20010000 << 96) | (n << 64) | (low & 0xFFFF_FFFF) << 32 | (~n & 0xFFFFFFFF)),
        IPv6Address((0x20010000 << 96) | (0x08080808 << 64) | (~n & 0xFFFFFFFF)),  # Teredo
    ]


@given(_V4, st.integers(min_value=0, max_value=(1 << 80) - 1))
def test_an_address_embedding_a_non_public_ipv4_is_not_public(v: IPv4Address, low: int) -> None:
    assert is_public(v) == v.is_global
    for form in _forms(v, low):
        if is_public(form):
            assert is_public(v), form
        if not v.is_global and int(v) > 1:
            assert not is_public(form), form


@given(st.ip_addresses(v=6).map(lambda a: IPv6Address(int(a))))
def test_an_ipv6_address_embedding_nothing_is_public_iff_global(ip: IPv6Address) -> None:
    if not embedded_ipv4(ip):
        assert is_public(ip) == ip.is_global
    else:
        assert is_public(ip) == (ip.is_global and all(v.is_global for v in embedded_ipv4(ip)))


@pytest.mark.parametrize(
    "addr",
    ["::127.0.0.1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::", "2002:a00:1::1"],
)
def test_the_embedded_forms_from_the_report_are_refused(addr: str) -> None:
    got = check_url("http://docs.example/", allow_private=False, resolver=lambda _: [addr])
    assert isinstance(got, Err)
    assert got.error.code == "PERMISSION_DENIED"


class _Hits(http.server.BaseHTTPRequestHandler):
    """Answers a page naming the server it is; counts requests and the Host headers."""

    def do_GET(self) -> None:
        server = self.server
        assert isinstance(server, _Site)
        server.hosts.append(self.headers.get("host", ""))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("location", f"http://127.0.0.1:{server.server_address[1]}/page.md")
            self.end_headers()
            return
        body = f"# Page\n\nserved by {server.name}\n".encode()
        self.send_response(200)
        self.send_header("content-type", "text/markdown")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Site(http.server.ThreadingHTTPServer):
    def __init__(self, host: str, port: int, name: str) -> None:
        super().__init__((host, port), _Hits)
        self.name = name
        self.hosts: list[str] = []


@pytest.fixture(scope="module")
def two_sites() -> Iterator[tuple[_Site, _Site]]:
    """A "public" site on 127.0.0.2 and an "internal" one on 127.0.0.1, on the same port:
    which one a request reaches shows which address it connected to."""
    for _ in range(20):
        try:
            public = _Site("127.0.0.2", 0, "public")
        except OSError:
            pytest.skip("127.0.0.2 cannot be bound here")
        try:
            internal = _Site("127.0.0.1", public.server_address[1], "internal")
        except OSError:
            public.server_close()
            continue
        break
    else:
        pytest.skip("no port free on both loopback addresses")
    for s in (public, internal):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield public, internal
    for s in (public, internal):
        s.shutdown()
        s.server_close()


def _only_public(ip: object) -> bool:
    return ip == IPv4Address("127.0.0.2")  # the test's stand-in for a public address


def _fetch(guard: Guard, url: str) -> tuple[int, str] | str:
    async def go() -> tuple[int, str] | str:
        async with httpx.AsyncClient(transport=guard.transport(), follow_redirects=True) as c:
            try:
                r = await c.get(url)
            except httpx.ConnectError as exc:
                return str(exc)
            return r.status_code, r.text

    return asyncio.run(go())


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.sampled_from([["127.0.0.2"], ["127.0.0.1"], ["127.0.0.2", "127.0.0.1"]]),
        min_size=1,
        max_size=4,
    )
)
def test_a_rebinding_name_never_reaches_the_internal_address(
    two_sites: tuple[_Site, _Site], answers: list[list[str]]
) -> None:
    public, internal = two_sites
    internal.hosts.clear()
    port = public.server_address[1]
    resolver = FlipResolver(answers)
    guard = Guard(resolver=resolver, public=_only_public)
    admitted = asyncio.run(guard.admit([f"http://rebind.test:{port}/page.md"]))
    got = _fetch(guard, f"http://rebind.test:{port}/page.md")
    assert internal.hosts == []  # whatever the name answered, 127.0.0.1 was never reached
    connect_answer = answers[min(1, len(answers) - 1)]  # the transport's own lookup
    if connect_answer == ["127.0.0.2"]:
        assert got == (200, "# Page\n\nserved by public\n")
        assert public.hosts[-1] == f"rebind.test:{port}"  # the name, not the pinned address
    else:
        assert isinstance(got, str)
        assert "non-public address 127.0.0.1" in got
    assert isinstance(admitted, Ok) == (answers[0] == ["127.0.0.2"])
    assert len(resolver.lookups) == 2  # one lookup for the check, one per connection


def test_every_redirect_is_checked_again(two_sites: tuple[_Site, _Site]) -> None:
    public, internal = two_sites
    internal.hosts.clear()
    guard = Guard(resolver=FlipResolver([["127.0.0.2"]]), public=_only_public)
    got = _fetch(guard, f"http://rebind.test:{public.server_address[1]}/redirect")
    assert isinstance(got, str)
    assert "non-public address 127.0.0.1" in got
    assert internal.hosts == []


def test_an_ingest_job_fetches_from_the_checked_address(
    tmp_path: Path, two_sites: tuple[_Site, _Site]
) -> None:
    public, internal = two_sites
    internal.hosts.clear()
    url = f"http://rebind.test:{public.server_address[1]}/page.md"

    async def scenario(answers: list[list[str]]) -> dict[str, object]:
        guard = Guard(resolver=FlipResolver(answers), public=_only_public)
        opened_cm = open_service(
            Settings(data_dir=tmp_path / f"store{len(answers)}"),
            ServiceOptions(guard=guard, base=tmp_path),
            embedder=EmbedderPort(HashEmbedder(16)),
        )
        async with opened_cm as opened:
            assert isinstance(opened, Ok)
            started = await opened.value.start_ingest(JobRequest(urls=(url,)))
            assert isinstance(started, Ok)
            assert await asyncio.to_thread(started.value.done.wait, 120)
            report = started.value.to_json()["report"]
            assert isinstance(report, dict)
            return report

    fine = asyncio.run(scenario([["127.0.0.2"]]))
    assert (fine["sources_added"], fine["errors"]) == (1, [])
    rebound = asyncio.run(scenario([["127.0.0.2"], ["127.0.0.1"]]))
    assert rebound["sources_added"] == 0
    assert "non-public address 127.0.0.1" in json.dumps(rebound["errors"])
    assert internal.hosts == []


def test_a_slow_resolver_never_blocks_the_loop_and_urls_are_capped() -> None:
    release = threading.Event()

    def stuck(host: str) -> list[str]:
        release.wait(30)
        return ["93.184.215.14"]

    guard = Guard(resolver=stuck, dns_budget_s=0.3)

    async def scenario() -> tuple[object, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        urls = [f"http://slow{i}.test/x" for i in range(6)]
        got = await guard.admit(urls)
        ticker.cancel()
        return got, ticks

    try:
        got, ticks = asyncio.run(scenario())
    finally:
        release.set()
    assert isinstance(got, Err)
    assert got.error.code == "TIMEOUT"
    assert ticks > 1  # the loop ran other work while the names were being resolved
    many = asyncio.run(Guard().admit([f"http://h{i}.test/" for i in range(33)]))
    assert isinstance(many, Err)
    assert many.error.code == "INVALID_INPUT"


# -- 4. requests: hosts, methods, bounded work, JSON errors --------------------------------------


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
