"""``serve`` under load, on a real uvicorn on loopback: no Nagle stall on a kept-alive
connection, bounded admission of searches (503 + Retry-After past the bound, never another
5xx), a disconnect cancels its query, and the CLI's ``--server`` client honours Retry-After.

No timing asserts: the stall is checked through the socket option that prevents it, the
speed is in ``bench/bench_serve.py``.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from funcpipe.adapters.edge import EdgeStore
from funcpipe.adapters.runtime import perform_async
from funcpipe.async_plan import AsyncPlan
from funcpipe.policies import RetryPolicy
from funcpipe.result import ErrInfo, Ok, Result
from funcpipe_rag.adapters import EmbedderPort, PhaseObserver, StoreIndex
from funcpipe_rag.app import Backends, SearchOptions, Settings
from funcpipe_rag.app.service import Service, ServiceOptions
from funcpipe_rag.cli import _client
from funcpipe_rag.cli._client import ServerClient
from funcpipe_rag.domain import IndexQuery, SearchHit
from funcpipe_rag.pipelines import DEFAULT_SETTINGS
from funcpipe_rag.serve import OVERLOADED, AppOptions, ServeOptions, create_app
from funcpipe_rag.serve._admission import Admission
from funcpipe_rag.serve._deadline import BodyDeadline
from funcpipe_rag.serve._run import _Server, bind, uvicorn_config
from hypothesis import given, settings
from hypothesis import strategies as st
from rag_doubles import HashEmbedder
from starlette.types import ASGIApp, Receive, Scope, Send


class _Running:
    def __init__(self, server: uvicorn.Server, port: int) -> None:
        self.server = server
        self.port = port

    def nodelay_of_connections(self) -> list[int]:
        """TCP_NODELAY of each connection the server holds (accepted sockets)."""
        out: list[int] = []
        for conn in list(self.server.server_state.connections):
            transport = getattr(conn, "transport", None)
            sock = transport.get_extra_info("socket") if transport is not None else None
            if sock is not None:
                out.append(int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)))
        return out


@contextmanager
def running(app: ASGIApp, opts: ServeOptions | None = None) -> Iterator[_Running]:
    """``app`` served as ``serve`` serves it (its ``bind`` and uvicorn config), on a thread."""
    sock = bind("127.0.0.1", 0).unwrap()
    port = int(sock.getsockname()[1])
    server = _Server(uvicorn_config(app, opts or ServeOptions()))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.started
        yield _Running(server, port)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


async def _two_writes(scope: Scope, receive: Receive, send: Send) -> None:
    """An app that writes its head and body in two sends (as Starlette's responses do)."""
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b'{"status":"ok"}'})


def test_bound_socket_names_tcp_so_accepted_connections_get_nodelay() -> None:
    bound = bind("127.0.0.1", 0).unwrap()
    with bound:
        assert bound.proto == socket.IPPROTO_TCP


def test_kept_alive_connections_have_nodelay_with_http_client_and_httpx() -> None:
    with running(_two_writes) as srv:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        for _ in range(3):
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            assert r.status == 200
            assert r.read() == b'{"status":"ok"}'
        assert srv.nodelay_of_connections() == [1]
        conn.close()
        with httpx.Client(base_url=f"http://127.0.0.1:{srv.port}", timeout=10) as client:
            for _ in range(3):
                assert client.get("/healthz").json() == {"status": "ok"}
            held = srv.nodelay_of_connections()
            assert held
            assert all(v == 1 for v in held)


# -- admission and cancellation, over an index whose searches wait for a gate ----------------


class GatedIndex(StoreIndex):
    """A real Edge collection whose ``search`` waits until ``gate`` is set (polling, so it can
    be cancelled at any moment), counting searches started, cancelled and finished."""

    def __init__(self, store: EdgeStore, collection: str) -> None:
        super().__init__(store, collection)
        self.gate = threading.Event()
        self.started = 0
        self.cancelled = 0
        self.finished = 0

    def observed(self, observe: PhaseObserver) -> StoreIndex:
        return self

    def search(self, query: IndexQuery) -> AsyncPlan[list[SearchHit]]:
        async def _run() -> Result[list[SearchHit], ErrInfo]:
            self.started += 1
            try:
                while not self.gate.is_set():  # noqa: ASYNC110 (set from another thread)
                    await asyncio.sleep(0.005)
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            self.finished += 1
            return Ok([])

        return _run


@contextmanager
def gated_server(tmp: Path, max_inflight: int) -> Iterator[tuple[_Running, GatedIndex]]:
    store = EdgeStore(tmp / "edge")
    index = GatedIndex(store, "t")
    settings = Settings.model_construct(data_dir=tmp, collection="t")
    backends = Backends(index, EmbedderPort(HashEmbedder(8)), None)
    service = Service(settings, backends, DEFAULT_SETTINGS, ServiceOptions(base=tmp))
    app = create_app(service, AppOptions(max_inflight=max_inflight))
    try:
        with running(app) as srv:
            yield srv, index
    finally:
        index.gate.set()
        asyncio.run(perform_async(store.close()))


def _wait_until(cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not cond():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


def _metric(port: int, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


def _search(port: int) -> httpx.Response:
    url = f"http://127.0.0.1:{port}/v1/search"
    return httpx.post(url, json={"query": "alpha beta", "k": 3}, timeout=30)


def test_saturated_server_sheds_past_the_bound_with_503_retry_after_and_no_other_5xx(
    tmp_path: Path,
) -> None:
    bound, clients = 3, 10
    with gated_server(tmp_path, bound) as (srv, index):
        got: list[httpx.Response] = []
        threads = [
            threading.Thread(target=lambda: got.append(_search(srv.port))) for _ in range(clients)
        ]
        for t in threads:
            t.start()
        # the bound is full while the gate is closed: every other request is refused at once
        _wait_until(lambda: len(got) == clients - bound and index.started == bound, "the shed")
        refused = list(got)
        index.gate.set()
        for t in threads:
            t.join(30)
        assert index.started == bound
        for r in refused:
            assert r.status_code == 503
            assert r.headers["retry-after"] == "1"
            assert r.json()["code"] == OVERLOADED
        statuses = sorted(r.status_code for r in got)
        assert statuses == [200] * bound + [503] * (clients - bound)
        assert _metric(srv.port, "funcpipe_search_shed_total") == clients - bound
        assert _metric(srv.port, "funcpipe_search_in_flight") == 0
        assert _search(srv.port).status_code == 200  # the bound is free again


def test_a_client_that_disconnects_cancels_its_search(tmp_path: Path) -> None:
    with gated_server(tmp_path, 3) as (srv, index):
        body = b'{"query": "alpha beta", "k": 3}'
        head = (
            f"POST /v1/search HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
            sock.sendall(head + body)
            _wait_until(lambda: index.started == 1, "the search to start")
        _wait_until(lambda: index.cancelled == 1, "the search to be cancelled")
        assert index.finished == 0
        assert _metric(srv.port, "funcpipe_search_cancelled_total") == 1
        assert _metric(srv.port, "funcpipe_search_in_flight") == 0


def test_the_server_client_retries_after_retry_after_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with gated_server(tmp_path, 1) as (srv, index):
        held: list[httpx.Response] = []
        holder = threading.Thread(target=lambda: held.append(_search(srv.port)))
        holder.start()
        _wait_until(lambda: index.started == 1, "the bound to fill")

        def _free_after_a_refusal() -> None:
            _wait_until(lambda: _metric(srv.port, "funcpipe_search_shed_total") >= 1, "a 503")
            index.gate.set()

        freer = threading.Thread(target=_free_after_a_refusal)
        freer.start()
        got = ServerClient(f"http://127.0.0.1:{srv.port}").search("alpha beta", SearchOptions(3))
        freer.join(30)
        holder.join(30)
        assert got == Ok([])
        assert held[0].status_code == 200
        err = capsys.readouterr().err
        assert f"503 {OVERLOADED}" in err
        assert "Retry-After" in err
        assert _metric(srv.port, "funcpipe_search_shed_total") == 1


def test_the_server_client_gives_the_overload_error_after_its_last_attempt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        _client,
        "OVERLOAD_RETRY",
        RetryPolicy(max_attempts=2, retriable_codes=frozenset({OVERLOADED}), max_backoff_ms=0),
    )
    with gated_server(tmp_path, 1) as (srv, index):
        holder = threading.Thread(target=lambda: _search(srv.port))
        holder.start()
        _wait_until(lambda: index.started == 1, "the bound to fill")
        got = ServerClient(f"http://127.0.0.1:{srv.port}").search("alpha beta", SearchOptions(3))
        index.gate.set()
        holder.join(30)
    assert not isinstance(got, Ok)
    assert got.error.code == OVERLOADED
    assert got.error.ctx["status"] == 503
    assert got.error.ctx["attempts"] == 2


def test_a_stalled_body_gets_408_and_frees_the_connection(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path / "edge")
    index = GatedIndex(store, "t")
    index.gate.set()
    settings = Settings.model_construct(data_dir=tmp_path, collection="t")
    backends = Backends(index, EmbedderPort(HashEmbedder(8)), None)
    service = Service(settings, backends, DEFAULT_SETTINGS, ServiceOptions(base=tmp_path))
    app = BodyDeadline(create_app(service), 0.3)
    try:
        with running(app) as srv:
            head = (
                "POST /v1/search HTTP/1.1\r\nhost: 127.0.0.1\r\n"
                "content-type: application/json\r\ncontent-length: 100\r\n\r\n"
            )
            with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
                sock.sendall(head.encode() + b'{"query": ')  # then nothing more
                reply = b""
                while b"\r\n\r\n" not in reply or not reply.endswith(b"}"):
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
            assert reply.startswith(b"HTTP/1.1 408 ")
            assert b'"code": "TIMEOUT"' in reply
            assert index.started == 0
            assert _search(srv.port).status_code == 200  # a whole body in time is served
    finally:
        asyncio.run(perform_async(store.close()))


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 5), st.lists(st.booleans(), max_size=60))
def test_admission_never_holds_more_than_its_bound(bound: int, ops: list[bool]) -> None:
    """Law: in flight <= bound; enter admits iff below the bound; shed counts the rest."""
    a = Admission(bound)
    held = shed = 0
    for enter in ops:
        if enter:
            admitted = a.enter()
            assert admitted == (held < bound)
            held, shed = (held + 1, shed) if admitted else (held, shed + 1)
        elif held:
            with a.admitted():
                pass
            held -= 1
        assert a.in_flight == held <= bound
        assert a.shed == shed
