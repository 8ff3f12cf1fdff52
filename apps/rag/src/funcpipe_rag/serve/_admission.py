"""Admission of searches: at most ``max_inflight`` at once; past it, shed at once.

Laws (one event loop; no locks needed):
- ``in_flight <= max_inflight`` at every moment; ``enter`` never waits: it admits (True) or
  sheds (False, counted in ``shed``) in constant time, so an overloaded server answers the
  rest with ``503 OVERLOADED`` + ``Retry-After`` within milliseconds instead of answering
  everyone late.
- Every admitted search leaves exactly once (``admitted`` is a context manager), whether it
  returns, fails or is cancelled.
- ``watch_disconnect`` cancels a search whose client went away (ASGI ``http.disconnect``): the
  query stops at its next await (a store call already running in its thread finishes there and
  its result is dropped) and its slot is freed.

The bound is sized from measured capacity: ``in-flight / capacity`` is the longest wait of an
admitted search. ``DEFAULT_MAX_INFLIGHT`` is ~0.05-0.08 s of a two-core machine's served rate
(100-170 queries/s measured by ``bench/bench_serve.py``), enough to keep the store's thread and
the event loop busy; ``FUNCPIPE_SERVE_MAX_INFLIGHT`` or ``serve --max-inflight`` set it (raise
it with the measured rate: about a tenth of a second's worth).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from funcpipe.result import ErrInfo
from starlette.responses import Response
from starlette.types import Receive

from funcpipe_rag.app import OVERLOADED, error_body, http_status

DEFAULT_MAX_INFLIGHT = 8
RETRY_AFTER_S = 1
ENV_MAX_INFLIGHT = "FUNCPIPE_SERVE_MAX_INFLIGHT"

T = TypeVar("T")


def max_inflight_from_env(default: int = DEFAULT_MAX_INFLIGHT) -> int:
    """``FUNCPIPE_SERVE_MAX_INFLIGHT`` when it is a positive integer, else ``default``."""
    raw = os.environ.get(ENV_MAX_INFLIGHT, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else default


class Admission:
    """Counts searches in flight against a bound (see the module's laws)."""

    def __init__(self, max_inflight: int = DEFAULT_MAX_INFLIGHT) -> None:
        if max_inflight < 1:
            raise ValueError(f"max_inflight must be >= 1, got {max_inflight}")
        self.max_inflight = max_inflight
        self.in_flight = 0
        self.shed = 0
        self.cancelled = 0

    def enter(self) -> bool:
        """Admit one search (True) or shed it (False) at once."""
        if self.in_flight >= self.max_inflight:
            self.shed += 1
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        self.in_flight -= 1

    @contextmanager
    def admitted(self) -> Iterator[None]:
        """The body runs as one admitted search (call only after ``enter`` returned True)."""
        try:
            yield
        finally:
            self.leave()


def overloaded(admission: Admission) -> Response:
    """``503 {"code": "OVERLOADED", "msg", "class": "backend"}`` with ``Retry-After`` (whole
    seconds), from the failure model."""
    msg = (
        f"the server is at its limit of {admission.max_inflight} searches in flight; "
        f"retry after {RETRY_AFTER_S} s"
    )
    shed = ErrInfo(OVERLOADED, msg)
    return Response(
        json.dumps(error_body(shed)),
        status_code=http_status(shed),
        media_type="application/json",
        headers={"retry-after": str(RETRY_AFTER_S)},
    )


class ClientGone(Exception):
    """The client disconnected before its search finished."""


async def watch_disconnect(work: Awaitable[T], receive: Receive) -> T:
    """``await work``, cancelled when ``receive`` yields ``http.disconnect`` (then
    ``ClientGone``). Call after the body was read: the server's next message is then the
    disconnect, or nothing until the response is sent."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        watcher.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise ClientGone
    return task.result()


async def _disconnected(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
