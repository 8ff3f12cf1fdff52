"""A test-support OpenAI-compatible embeddings server on loopback, with scripted faults.

Standard library only (``http.server.ThreadingHTTPServer`` in a background thread), so any
test suite can use it::

    from funcpipe.testing.embeddings_server import EmbeddingsServer, Fault

    with EmbeddingsServer(lambda texts: [[1.0, 0.0] for _ in texts]) as server:
        server.push(Fault.rate_limited(retry_after=2), Fault.status(503))
        ...  # point OpenAIEmbeddings(client, base_url=server.base_url, model="m") at it
        assert len(server.requests) == 3

Behaviour: ``POST /v1/embeddings`` with ``{"model", "input": str | [str], "encoding_format":
"float" | "base64", "dimensions"?}`` answers ``{"object": "list", "data": [{"object":
"embedding", "index", "embedding"}], "model", "usage"}``. Invalid requests get OpenAI-style
400s (empty string, wrong types, unknown format); with ``api_key`` set, a missing or wrong
bearer token gets 401. Each request first takes the next fault from the queue (FIFO), if any.

Per-request schedules (optional, additive): ``fault_for(texts, attempt)`` picks the fault of a
request that the queue left without one, from its input texts and ``attempt`` (how many earlier
requests carried exactly the same texts), so a schedule does not depend on the order in which
concurrent requests arrive. ``exchanges`` records each request's texts, fault and answer
(``ok`` when it was answered 200 with one correct vector per text). ``Fault.hang()`` holds a
request unanswered until the client gives up (its timeout) or the server closes;
``honour_dimensions=False`` ignores the ``dimensions`` field, like a model without it.
"""

from __future__ import annotations

import base64
import email.utils
import json
import math
import select
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal

__all__ = [
    "EmbedFn",
    "EmbeddingsServer",
    "ErrorShape",
    "Exchange",
    "Fault",
    "FaultFn",
    "FaultKind",
    "error_body",
]

EmbedFn = Callable[[list[str]], Sequence[Sequence[float]]]
"""Texts -> one vector per text (e.g. ``StaticEmbedder().embed_sync``)."""

FaultKind = Literal[
    "reply",
    "slow",
    "drop",
    "malformed_json",
    "wrong_count",
    "wrong_dim",
    "shuffle",
    "bad_vector",
    "hang",
]
ErrorShape = Literal["openai", "string", "detail", "message", "text"]


def error_body(shape: ErrorShape, message: str, error_type: str = "invalid_request_error") -> bytes:
    """An error body of a common shape: ``openai`` ``{"error": {"message","type","code"}}``,
    ``string`` ``{"error": "..."}``, ``detail`` ``{"detail": ...}``, ``message``
    ``{"message": ...}``, ``text`` (plain text)."""
    if shape == "openai":
        doc: object = {"error": {"message": message, "type": error_type, "code": error_type}}
    elif shape == "string":
        doc = {"error": message}
    elif shape == "detail":
        doc = {"detail": message}
    elif shape == "message":
        doc = {"message": message}
    else:
        return message.encode()
    return json.dumps(doc).encode()


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, consumed by one request. Build with the factories."""

    kind: FaultKind
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay_s: float = 0.0
    retry_after_date_s: float | None = None  # Retry-After as an HTTP date this far ahead

    @classmethod
    def status_error(
        cls,
        status: int,
        *,
        shape: ErrorShape = "openai",
        message: str | None = None,
        error_type: str = "server_error",
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Reply ``status`` with an error body of ``shape``."""
        msg = message or f"injected {status}"
        return cls("reply", status, dict(headers or {}), error_body(shape, msg, error_type))

    @classmethod
    def rate_limited(cls, retry_after: float | None = None, *, http_date: bool = False) -> Fault:
        """429; with ``retry_after`` seconds as delta-seconds or (``http_date``) an HTTP date
        that far after the response's ``Date`` header."""
        body = error_body("openai", "Rate limit reached", "rate_limit_exceeded")
        if retry_after is None:
            return cls("reply", 429, {}, body)
        if http_date:
            return cls("reply", 429, {}, body, retry_after_date_s=retry_after)
        return cls("reply", 429, {"Retry-After": f"{retry_after:g}"}, body)

    @classmethod
    def quota_exhausted(cls) -> Fault:
        """429 with OpenAI's ``insufficient_quota`` error (billing, not a transient limit)."""
        body = error_body("openai", "You exceeded your current quota", "insufficient_quota")
        return cls("reply", 429, {}, body)

    @classmethod
    def slow(cls, delay_s: float) -> Fault:
        """Answer normally after ``delay_s`` (interrupted when the server closes)."""
        return cls("slow", delay_s=delay_s)

    @classmethod
    def hang(cls) -> Fault:
        """Never answer: hold the request until the client closes the connection (its timeout)
        or the server closes."""
        return cls("hang")

    @classmethod
    def drop(cls) -> Fault:
        """Read the request, then close the connection without answering."""
        return cls("drop")

    @classmethod
    def malformed_json(cls) -> Fault:
        """200 with a body that is not JSON."""
        return cls("malformed_json", body=b'{"data": [')

    @classmethod
    def wrong_count(cls) -> Fault:
        """200 with one embedding missing (or one extra for a single input)."""
        return cls("wrong_count")

    @classmethod
    def wrong_dimension(cls) -> Fault:
        """200 with the first vector one value short."""
        return cls("wrong_dim")

    @classmethod
    def shuffled(cls) -> Fault:
        """200 with ``data`` in reverse order (``index`` values correct): clients must reorder."""
        return cls("shuffle")

    @classmethod
    def bad_vector(cls) -> Fault:
        """200 whose first embedding is garbage (a non-vector / invalid base64)."""
        return cls("bad_vector")


FaultFn = Callable[[Sequence[str], int], "Fault | None"]
"""``(texts, attempt) -> fault or None``: a per-request schedule (see the module docstring)."""


@dataclass(frozen=True)
class Exchange:
    """One request as the server saw it: its input texts (empty when the body had none), the
    fault it got (``None``: none), the status answered (``None``: dropped or hung) and ``ok``:
    answered 200 with one correct vector per text."""

    texts: tuple[str, ...]
    fault: FaultKind | None
    status: int | None
    ok: bool


def _texts_of(req: object) -> tuple[str, ...]:
    texts = req.get("input") if isinstance(req, dict) else None
    if isinstance(texts, str):
        return (texts,)
    if isinstance(texts, list) and all(isinstance(t, str) for t in texts):
        return tuple(texts)
    return ()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    _texts: tuple[str, ...] = ()
    _fault: Fault | None = None

    def log_message(self, format: str, *args: object) -> None:
        return

    def _send(
        self,
        status: int,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        now: float | None = None,
    ) -> None:
        now = time.time() if now is None else now
        self.send_response_only(status)
        self.send_header("Date", email.utils.formatdate(now, usegmt=True))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _bad(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        self._send(status, error_body("openai", message, kind))
        self._log(status)

    def _log(self, status: int | None, ok: bool = False) -> None:
        srv = self.server.owner
        kind = self._fault.kind if self._fault is not None else None
        srv._exchange(Exchange(self._texts, kind, status, ok))

    def _hang(self) -> None:
        """Wait until the client closes the connection (EOF or error) or the server closes."""
        conn = self.connection
        while not self.server.owner._closing.is_set():
            readable, _, _ = select.select([conn], [], [], 0.02)
            if readable:
                try:
                    if not conn.recv(1, socket.MSG_PEEK):
                        return
                except OSError:
                    return

    def do_GET(self) -> None:
        self._texts, self._fault = (), None
        self._bad(405, "use POST /v1/embeddings")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        srv = self.server.owner
        try:
            req: object = json.loads(raw)
        except ValueError:
            req = None
        srv._record(req)
        self._texts = _texts_of(req)
        fault = srv._next_fault()
        if fault is None and srv.fault_for is not None:
            fault = srv._scheduled_fault(self._texts)
        self._fault = fault
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            self._log(None)
            return
        if fault is not None and fault.kind == "hang":
            self._hang()
            self.close_connection = True
            self._log(None)
            return
        if fault is not None and fault.kind == "reply":
            headers = dict(fault.headers)
            now = float(math.floor(time.time()))  # whole seconds: Date and Retry-After align
            if fault.retry_after_date_s is not None:
                when = now + fault.retry_after_date_s
                headers["Retry-After"] = email.utils.formatdate(when, usegmt=True)
            self._send(fault.status, fault.body, headers, now=now)
            self._log(fault.status)
            return
        if fault is not None and fault.kind == "malformed_json":
            self._send(200, fault.body)
            self._log(200)
            return
        if fault is not None and fault.kind == "slow" and srv._closing.wait(fault.delay_s):
            self.close_connection = True
            self._log(None)
            return
        if self.path.rstrip("/") != "/v1/embeddings":
            self._bad(404, f"unknown path {self.path}", "not_found")
            return
        auth = self.headers.get("Authorization")
        if srv.api_key is not None and auth != f"Bearer {srv.api_key}":
            self._bad(401, "Incorrect API key provided", "invalid_api_key")
            return
        if not isinstance(req, dict):
            self._bad(400, "request body must be a JSON object")
            return
        texts = req.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            self._bad(400, "'input' must be a string or a non-empty list of strings")
            return
        if any(not t for t in texts):
            self._bad(400, "'input' cannot contain an empty string")
            return
        fmt = req.get("encoding_format", "float")
        if fmt not in ("float", "base64"):
            self._bad(400, f"unknown encoding_format {fmt!r}")
            return
        try:
            vectors = [[float(x) for x in v] for v in srv.embed_fn(texts)]
        except Exception as exc:
            self._bad(500, f"embedding failed: {exc}", "server_error")
            return
        dims = req.get("dimensions") if srv.honour_dimensions else None
        if dims is not None:
            if not isinstance(dims, int) or not 1 <= dims <= min(len(v) for v in vectors):
                self._bad(400, f"unsupported dimensions {dims!r}")
                return
            vectors = [_renorm(v[:dims]) for v in vectors]
        items: list[dict[str, object]] = [
            {"object": "embedding", "index": i, "embedding": _encode(v, fmt)}
            for i, v in enumerate(vectors)
        ]
        if fault is not None:
            if fault.kind == "wrong_count":
                items = items[:-1] if len(items) > 1 else items + items
            elif fault.kind == "wrong_dim":
                items[0]["embedding"] = _encode(vectors[0][:-1], fmt)
            elif fault.kind == "shuffle":
                items.reverse()
            elif fault.kind == "bad_vector":
                items[0]["embedding"] = "@@not base64@@" if fmt == "base64" else "oops"
        doc = {
            "object": "list",
            "data": items,
            "model": req.get("model", srv.model),
            "usage": {"prompt_tokens": 0, "total_tokens": 0},
        }
        self._send(200, json.dumps(doc).encode())
        self._log(200, ok=fault is None or fault.kind in ("slow", "shuffle"))


def _renorm(v: list[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v] if n > 0 else v


def _encode(v: list[float], fmt: object) -> object:
    if fmt == "base64":
        return base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode()
    return v


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: EmbeddingsServer


class EmbeddingsServer:
    """A loopback OpenAI-compatible embeddings server (context manager) backed by ``embed_fn``.

    ``base_url`` is ``http://127.0.0.1:<port>`` (clients append ``/v1/embeddings``);
    ``push(*faults)`` scripts the next requests; ``requests`` records each parsed request body
    (``None`` when not JSON), in arrival order. ``close()`` (or leaving the ``with``) stops it
    and wakes any slow handler.
    """

    def __init__(
        self,
        embed_fn: EmbedFn,
        *,
        model: str = "test-embedding-model",
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        fault_for: FaultFn | None = None,
        honour_dimensions: bool = True,
    ) -> None:
        self.embed_fn = embed_fn
        self.model = model
        self.api_key = api_key
        self.fault_for = fault_for
        self.honour_dimensions = honour_dimensions
        self.requests: list[object] = []
        self.exchanges: list[Exchange] = []
        self._attempts: dict[tuple[str, ...], int] = {}
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd = _Server((host, port), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="embeddings-server", daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def push(self, *faults: Fault) -> None:
        """Queue ``faults``; each of the next requests consumes one, in order."""
        with self._lock:
            self._faults.extend(faults)

    def pending_faults(self) -> int:
        """Faults not consumed yet."""
        with self._lock:
            return len(self._faults)

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _record(self, req: object) -> None:
        with self._lock:
            self.requests.append(req)

    def _scheduled_fault(self, texts: tuple[str, ...]) -> Fault | None:
        with self._lock:
            attempt = self._attempts.get(texts, 0)
            self._attempts[texts] = attempt + 1
            fault_for = self.fault_for
        return fault_for(texts, attempt) if fault_for is not None else None

    def _exchange(self, ex: Exchange) -> None:
        with self._lock:
            self.exchanges.append(ex)

    def reset(self) -> None:
        """Forget the recorded requests, exchanges, attempt counts and queued faults (reuse one
        server across test cases)."""
        with self._lock:
            self.requests.clear()
            self.exchanges.clear()
            self._attempts.clear()
            self._faults.clear()

    def close(self) -> None:
        """Stop serving and release the port."""
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> EmbeddingsServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
