"""Running the API: bind, open the service, serve with uvicorn, drain on a signal.

Driven through ``funcpipe.adapters.runtime.run_main``, which owns SIGINT/SIGTERM (uvicorn's own
signal handling is off). On a signal: ``/readyz`` turns 503, the listening socket closes, the
running ingest is stopped where it awaits (the protocol makes that safe), in-flight requests
get up to ``drain_s`` seconds, the store is closed, and the exit is clean (0). Refused at start
(``INVALID_INPUT``, stage ``config``): a non-loopback host without an API key; a port that
cannot be bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import sys
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httptools  # noqa: F401  (uvicorn's http='httptools' parser: fails here if missing)
import uvicorn
from funcpipe.adapters.runtime import run_main
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from starlette.types import ASGIApp

from funcpipe_rag.app import Settings, Stage
from funcpipe_rag.app.service import Guard, ServiceOptions, open_service

from ._admission import max_inflight_from_env
from ._app import AppOptions, Lifecycle, create_app
from ._deadline import DEFAULT_BODY_TIMEOUT_S, BodyDeadline
from ._guardrails import Limits
from ._protocol import protocol_for


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    api_key: str | None = None
    allow_roots: tuple[Path, ...] = ()
    allow_private_urls: bool = False
    cors_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    drain_s: float = 10.0
    ingest_share: float = 0.25
    max_inflight: int = field(default_factory=max_inflight_from_env)
    """Searches in flight at most (``serve/_admission``); env ``FUNCPIPE_SERVE_MAX_INFLIGHT``."""
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    """A request's body must arrive within this (else 408 ``TIMEOUT``; ``serve/_deadline``)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _config_err(msg: str) -> Err[ErrInfo]:
    return Err(ErrInfo(codes.INVALID_INPUT, msg, stage=Stage.CONFIG))


def check_bind(opts: ServeOptions) -> Result[None, ErrInfo]:
    """Binding beyond loopback needs an API key."""
    if not is_loopback(opts.host) and not opts.api_key:
        return _config_err(
            f"refusing to listen on {opts.host} without an API key: "
            "set FUNCPIPE_API_KEY, or listen on 127.0.0.1"
        )
    return Ok(None)


def bind(host: str, port: int) -> Result[socket.socket, ErrInfo]:
    """A listening TCP socket whose protocol is ``IPPROTO_TCP`` (not 0, as
    ``socket.create_server`` leaves it): accepted connections inherit it, and asyncio sets
    ``TCP_NODELAY`` only on sockets that name it. Without it a kept-alive connection's response,
    written as head then body, waits ~40 ms for the client's delayed ACK (Nagle)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except OSError as exc:
        return _config_err(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    try:
        if os.name == "posix":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        return _config_err(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    return Ok(sock)


def uvicorn_config(app: ASGIApp, opts: ServeOptions) -> uvicorn.Config:
    """How uvicorn serves ``app``: httptools, no lifespan or access log, idle kept-alive
    connections closed after ``keep_alive_s`` (a silent client holds no more than a socket)."""
    return uvicorn.Config(
        app,
        lifespan="off",
        http=protocol_for(opts.limits),  # httptools, bounded before the app runs
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=max(1, int(opts.drain_s)),
        timeout_keep_alive=KEEP_ALIVE_S,
        backlog=2048,
    )


KEEP_ALIVE_S = 30


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers (the runtime's run_main owns them)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve_async(
    settings: Settings,
    opts: ServeOptions,
    *,
    on_ready: Callable[[str], None] = lambda url: None,
) -> Result[None, ErrInfo]:
    """Serve until cancelled (a signal); Ok after a clean drain."""
    checked = check_bind(opts)
    if isinstance(checked, Err):
        return checked
    bound = bind(opts.host, opts.port)
    if isinstance(bound, Err):
        return bound
    sock = bound.value
    url = url_of(sock)
    guard = Guard(roots=opts.allow_roots, allow_private_urls=opts.allow_private_urls)
    with sock:
        async with open_service(
            settings,
            ServiceOptions(guard=guard, url=url, ingest_share=opts.ingest_share),
            drain_s=opts.drain_s,
        ) as opened:
            if isinstance(opened, Err):
                return opened
            service = opened.value
            life = Lifecycle()
            app = BodyDeadline(
                create_app(
                    service,
                    AppOptions(
                        opts.api_key,
                        opts.limits,
                        opts.cors_origins,
                        opts.max_inflight,
                        allowed_hosts=opts.allowed_hosts,
                    ),
                    life,
                ),
                opts.body_timeout_s,
            )
            server = _Server(uvicorn_config(app, opts))
            task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
            # uvicorn sets a flag, no event, once it listens
            while not server.started and not task.done():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            if task.done():
                return _config_err(f"the server did not start on {url}")
            on_ready(url)
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                life.draining = True
                server.should_exit = True
                await service.jobs.stop(opts.drain_s)
                with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), opts.drain_s + 2)
                if not task.done():
                    server.force_exit = True
                    await task
    return Ok(None)


def serve(settings: Settings, opts: ServeOptions) -> Result[None, ErrInfo]:
    """Run ``serve_async`` through the runtime; a signal after start is a clean stop."""
    stopped_by_signal: list[bool] = []

    def _ready(url: str) -> None:
        print(f"funcpipe-rag: serving {settings.data_dir} on {url} (Ctrl-C stops)", file=sys.stderr)
        sys.stderr.flush()

    async def _main() -> Result[None, ErrInfo]:
        try:
            return await serve_async(settings, opts, on_ready=_ready)
        finally:
            stopped_by_signal.append(True)

    # the loop thread gets the GIL back from an ingest's threads within 0.5 ms, not 5 ms
    sys.setswitchinterval(0.0005)
    res = run_main(_main)
    if isinstance(res, Err):
        if res.error.code == codes.CANCELLED and stopped_by_signal:
            return Ok(None)
        return res
    return res.value


def roots_of(dirs: Sequence[Path]) -> tuple[Path, ...]:
    return tuple(d.absolute() for d in dirs)
