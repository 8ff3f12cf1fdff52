"""One pure-ASGI middleware for every request: a request id, the bearer key, the body and
query limits, metrics, and a ``{"code","msg"}`` 500 instead of a traceback.

- ``X-Request-Id``: the caller's (1-64 of ``[A-Za-z0-9._-]``) or a new one, on every response.
- With a key, every route but ``/healthz`` and ``/readyz`` needs ``Authorization: Bearer KEY``
  (compared in constant time): missing -> 401 ``AUTH``, wrong -> 401 ``AUTH``.
- ``hosts`` (a server without a key, or with ``--allow-host``): a ``Host`` header it does not
  list -> 403 ``PERMISSION_DENIED`` before anything else (``_hosts``).
- A body over ``max_body`` bytes -> 413 ``TOO_LARGE`` (by Content-Length, or while it streams);
  a query string over ``max_query`` bytes -> 414 ``TOO_LARGE``.
"""

from __future__ import annotations

import hmac
import json
import re
import time
import uuid
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._errors import body
from ._hosts import HostPolicy
from ._metrics import Metrics

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
_RID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class BodyTooLarge(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-request bounds: body and query bytes (here), head bytes and read timeouts (the
    HTTP protocol, ``_protocol``, before any of this runs)."""

    max_body: int = 1 << 20
    max_query: int = 4096
    max_head: int = 64 * 1024
    head_timeout_s: float = 10.0
    body_timeout_s: float = 30.0


def _header(scope: Scope, name: bytes) -> bytes | None:
    for k, v in scope.get("headers", ()):
        if k == name:
            return bytes(v)
    return None


class Guardrails:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        api_key: str | None,
        limits: Limits,
        hosts: HostPolicy | None = None,
    ) -> None:
        self.app = app
        self.hosts = hosts
        self.metrics = metrics
        self.key = f"Bearer {api_key}".encode() if api_key else None
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        given = _header(scope, b"x-request-id")
        rid = given.decode("latin-1") if given and _RID.match(given.decode("latin-1")) else ""
        rid = rid or uuid.uuid4().hex
        rid_header = (b"x-request-id", rid.encode())
        status = [500]
        started = [False]

        over = [False]  # the body went past the limit while the app read it
        replaced = [False]

        async def reply(code: int, err: str, msg: str, extra: list[tuple[bytes, bytes]]) -> None:
            data = json.dumps(body(err, msg)).encode()
            headers = [(b"content-type", b"application/json"), rid_header, *extra]
            started[0], status[0] = True, code
            await send({"type": "http.response.start", "status": code, "headers": headers})
            await send({"type": "http.response.body", "body": data})

        async def send_with_id(message: Message) -> None:
            if replaced[0]:
                return
            if message["type"] == "http.response.start":
                if over[0]:  # the app's answer to a body it could not read: 413 instead
                    replaced[0] = True
                    await reply(413, "TOO_LARGE", self._too_large(), [])
                    return
                started[0] = True
                status[0] = int(message["status"])
                message = {**message, "headers": [*message.get("headers", []), rid_header]}
            await send(message)

        try:
            refusal = self._refusal(scope)
            if refusal is not None:
                await reply(*refusal)
            else:
                await self.app(scope, self._limited(receive, over), send_with_id)
        except BodyTooLarge:
            if not started[0]:
                await reply(413, "TOO_LARGE", self._too_large(), [])
        except Exception:
            if not started[0]:
                await reply(500, "UNEXPECTED", f"unexpected server error (request {rid})", [])
            else:
                raise
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(
                path, str(scope.get("method", "")), status[0], time.perf_counter() - t0
            )

    def _too_large(self) -> str:
        return f"the request body is over the limit of {self.limits.max_body} bytes"

    def _refusal(self, scope: Scope) -> tuple[int, str, str, list[tuple[bytes, bytes]]] | None:
        host = _header(scope, b"host")
        if self.hosts is not None and host is not None:
            name = host.decode("latin-1")
            if not self.hosts.allowed(name):
                shown = name[:100]
                msg = (
                    f"Host {shown!r} is not served: without an API key this server answers "
                    "loopback names only (add names with --allow-host)"
                )
                return 403, "PERMISSION_DENIED", msg, []
        if len(scope.get("query_string", b"")) > self.limits.max_query:
            msg = f"the query string is over the limit of {self.limits.max_query} bytes"
            return 414, "TOO_LARGE", msg, []
        if self.key is not None and scope.get("path") not in OPEN_PATHS:
            got = _header(scope, b"authorization")
            challenge = [(b"www-authenticate", b'Bearer realm="funcpipe-rag"')]
            if got is None:
                return 401, "AUTH", "missing bearer key: send Authorization: Bearer KEY", challenge
            if not hmac.compare_digest(got, self.key):
                return 401, "AUTH", "wrong bearer key", challenge
        length = _header(scope, b"content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                return 400, "INVALID_INPUT", "Content-Length is not a number", []
            if n > self.limits.max_body:
                return 413, "TOO_LARGE", self._too_large(), []
        return None

    def _limited(self, receive: Receive, over: list[bool]) -> Receive:
        seen = [0]
        limit = self.limits.max_body

        async def _receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > limit:
                    over[0] = True
                    raise BodyTooLarge
            return message

        return _receive
