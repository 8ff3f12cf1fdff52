"""A deadline on reading a request's body: a slow or stalled client cannot hold a request open.

Law: every ``http.request`` message of a request must arrive within ``seconds`` of the
request's start; past that the app's read is abandoned and the client gets
``408 {"code": "TIMEOUT", "msg"}`` (when no response has started) and the connection closes.
Once the body is complete, ``receive`` is passed through untouched (a later ``http.disconnect``
still reaches the app, which cancels its search on it). No thread or admission slot is held
while a body streams in: searches are admitted after their body is read.
"""

from __future__ import annotations

import asyncio
import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_BODY_TIMEOUT_S = 10.0


class _BodyLate(BaseException):
    """Raised out of ``receive``; a BaseException so that the app's ``except Exception``
    handlers (which would answer 500) let it through to ``BodyDeadline``."""


class BodyDeadline:
    """Wraps ``app`` (pure ASGI) with the body deadline of the module's law."""

    def __init__(self, app: ASGIApp, seconds: float = DEFAULT_BODY_TIMEOUT_S) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        until = time.monotonic() + self.seconds
        done = [False]
        started = [False]

        async def _receive() -> Message:
            if done[0]:
                return await receive()
            try:
                async with asyncio.timeout(max(0.0, until - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                raise _BodyLate from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                done[0] = True
            return message

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                started[0] = True
            await send(message)

        try:
            await self.app(scope, _receive, _send)
        except _BodyLate:
            if started[0]:
                raise
            msg = f"the request body did not arrive within {self.seconds:g} s"
            data = json.dumps({"code": "TIMEOUT", "msg": msg}).encode()
            headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
            await send({"type": "http.response.start", "status": 408, "headers": headers})
            await send({"type": "http.response.body", "body": data})
