"""serve's network boundary (issue 28): addresses classified by what they reach, DNS rebinding
between the check and the connection, redirects, a slow resolver.

A stub resolver (``FlipResolver``) answers differently on each lookup; a "public" site on
127.0.0.2 and an "internal" one on 127.0.0.1 stand for the internet and a private service.
Nothing here sends a packet beyond loopback.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import httpx
import pytest
from funcpipe.result import Err, Ok
from funcpipe_rag.adapters import EmbedderPort
from funcpipe_rag.app import Settings
from funcpipe_rag.app.service import Guard, JobRequest, ServiceOptions, open_service
from funcpipe_rag.app.service._addresses import embedded_ipv4, is_public
from funcpipe_rag.app.service._guard import check_url
from hypothesis import given, settings
from hypothesis import strategies as st
from rag_doubles import FlipResolver, HashEmbedder

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
