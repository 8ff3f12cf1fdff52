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
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from funcpipe_rag.serve import ServeOptions
from funcpipe_rag.serve._run import _Server, bind, uvicorn_config
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
