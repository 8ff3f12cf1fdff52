"""A loopback OpenAI-compatible chat server with scripted answers and faults (tests only).

Standard library only (``http.server.ThreadingHTTPServer`` in a background thread)::

    with ChatServer(lambda req: ChatReply(("Use atexit", " [c1a2b3c].")) as server:
        server.push(ChatFault.rate_limited(1), ChatFault.status(503))
        ...  # point a chat client at server.base_url; server.requests records the bodies

``POST /v1/chat/completions``: each request first takes the next queued fault (FIFO), if any
(``rate_limited``: 429 with Retry-After; ``status``: that status with an OpenAI error body;
``overflow``: llama.cpp's 400 ``exceed_context_size_error`` with ``n_prompt_tokens`` and
``n_ctx``). Otherwise ``reply_fn(request)`` scripts the answer. With ``"stream": true`` the
answer is Server-Sent Events, one ``data: {chunk}`` per delta and ``data: [DONE]``; the reply
shapes the stream the way real servers do: ``reasoning`` deltas (vLLM's ``reasoning`` and
``reasoning_content``), ``usage`` last (``stream_options.include_usage``) or not at all,
``omit_nulls`` (TGI: null fields left out), ``malformed`` (comments, unknown events, broken
JSON lines between the good ones), ``drop_after`` (the connection closes after that many content
deltas, no ``[DONE]``), ``prompt_tokens`` (what usage reports: less than sent mimics Ollama's
silent truncation), ``delay_s`` (a pause before each delta; a client that goes away is counted
in ``disconnects``). Without ``stream`` the answer is one ``chat.completion`` JSON document.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class ChatReply:
    """One scripted answer (see the module docstring for each field's effect)."""

    deltas: Sequence[str]
    reasoning: Sequence[str] = ()
    prompt_tokens: int | None = None
    usage: bool = True
    omit_nulls: bool = False
    malformed: bool = False
    drop_after: int | None = None
    finish_reason: str = "stop"
    delay_s: float = 0.0
    """A pause before each content delta (a slow model; see ``ChatServer.disconnects``)."""


@dataclass(frozen=True)
class ChatFault:
    """A reply that replaces the answer of one request."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def rate_limited(cls, retry_after: float = 1.0) -> ChatFault:
        """429 with ``Retry-After: retry_after`` (seconds)."""
        body = _error("Rate limit reached", "rate_limit_error", 429)
        return cls(429, body, {"Retry-After": f"{retry_after:g}"})

    @classmethod
    def status_error(cls, status: int, message: str = "upstream failure") -> ChatFault:
        """``status`` with an OpenAI-style error body."""
        return cls(status, _error(message, "server_error", status))

    @classmethod
    def overflow(cls, n_prompt_tokens: int, n_ctx: int) -> ChatFault:
        """llama.cpp's answer to a prompt longer than its context."""
        doc = {
            "error": {
                "code": 400,
                "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": n_prompt_tokens,
                "n_ctx": n_ctx,
            }
        }
        return cls(400, json.dumps(doc).encode())


def _error(message: str, kind: str, code: int) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "code": code}}).encode()


ReplyFn = Callable[[Mapping[str, object]], ChatReply]


def _prompt_chars(req: Mapping[str, object]) -> int:
    msgs = req.get("messages")
    if not isinstance(msgs, list):
        return 0
    return sum(len(str(m.get("content", ""))) for m in msgs if isinstance(m, dict))


def _chunk(
    model: str, delta: dict[str, object], finish: str | None, omit_nulls: bool
) -> dict[str, object]:
    choice: dict[str, object] = {"index": 0, "delta": delta, "finish_reason": finish}
    doc: dict[str, object] = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [choice],
        "usage": None,
        "system_fingerprint": None,
    }
    if omit_nulls:
        doc = {k: v for k, v in doc.items() if v is not None}
        if finish is None:
            del choice["finish_reason"]
    return doc


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def _send(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response_only(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _event(self, doc: object) -> None:
        self._line(f"data: {json.dumps(doc)}")

    def _line(self, text: str) -> None:
        self.wfile.write(f"{text}\n\n".encode())
        self.wfile.flush()

    def do_POST(self) -> None:
        owner = self.server.owner
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            req: object = json.loads(raw)
        except ValueError:
            req = None
        owner._record(req)
        fault = owner._next_fault()
        if fault is not None:
            self._send(fault.status, fault.body, fault.headers)
            return
        if self.path.rstrip("/") != "/v1/chat/completions" or not isinstance(req, dict):
            self._send(404 if isinstance(req, dict) else 400, _error("bad request", "invalid", 400))
            return
        if owner.api_key is not None and self.headers.get("Authorization") != (
            f"Bearer {owner.api_key}"
        ):
            self._send(401, _error("Incorrect API key provided", "invalid_api_key", 401))
            return
        reply = owner.reply_fn(req)
        model = str(req.get("model") or owner.model)
        prompt = reply.prompt_tokens
        prompt = _prompt_chars(req) // 4 if prompt is None else prompt
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": sum(len(d) for d in reply.deltas) // 4,
            "total_tokens": prompt + sum(len(d) for d in reply.deltas) // 4,
        }
        if not req.get("stream"):
            message = {"role": "assistant", "content": "".join(reply.deltas)}
            doc: dict[str, object] = {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            }
            if reply.usage:
                doc["usage"] = usage
            self._send(200, json.dumps(doc).encode())
            return
        try:
            self._stream(req, reply, model, usage)
        except (BrokenPipeError, ConnectionResetError):
            owner._disconnected()

    def _stream(
        self, req: Mapping[str, object], reply: ChatReply, model: str, usage: dict[str, int]
    ) -> None:
        self.send_response_only(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        nulls = reply.omit_nulls
        self._event(_chunk(model, {"role": "assistant", "content": ""}, None, nulls))
        for n, text in enumerate(reply.reasoning):
            key = "reasoning" if n % 2 == 0 else "reasoning_content"
            self._event(_chunk(model, {key: text}, None, nulls))
        for n, text in enumerate(reply.deltas):
            if reply.drop_after is not None and n >= reply.drop_after:
                return
            if reply.delay_s and self.server.owner._closing.wait(reply.delay_s):
                return
            if reply.malformed:
                self._line(": keep-alive comment")
                self._line("event: ping\ndata: {}")
                self._line("data: {not json")
            self._event(_chunk(model, {"content": text}, None, nulls))
        if reply.drop_after is not None and reply.drop_after >= len(reply.deltas):
            return
        self._event(_chunk(model, {}, reply.finish_reason, nulls))
        options = req.get("stream_options")
        if reply.usage and isinstance(options, dict) and options.get("include_usage"):
            self._event(
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion.chunk",
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
            )
        self._line("data: [DONE]")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: ChatServer


class ChatServer:
    """A loopback OpenAI-compatible chat server (context manager) answering by ``reply_fn``.

    ``base_url`` is ``http://127.0.0.1:<port>``; ``push(*faults)`` scripts the next requests;
    ``requests`` records each parsed request body (``None`` when not JSON) in arrival order.
    """

    def __init__(
        self,
        reply_fn: ReplyFn,
        *,
        model: str = "test-chat-model",
        api_key: str | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.reply_fn = reply_fn
        self.model = model
        self.api_key = api_key
        self.requests: list[object] = []
        self.disconnects: int = 0
        """Streams the client closed before their end (a write found the connection gone)."""
        self._closing = threading.Event()
        self._faults: deque[ChatFault] = deque()
        self._lock = threading.Lock()
        self._httpd = _Server((host, 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.02,), name="chat-server", daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def push(self, *faults: ChatFault) -> None:
        """Queue faults for the next requests, in order."""
        with self._lock:
            self._faults.extend(faults)

    def _next_fault(self) -> ChatFault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _record(self, req: object) -> None:
        with self._lock:
            self.requests.append(req)

    def _disconnected(self) -> None:
        with self._lock:
            self.disconnects += 1

    def close(self) -> None:
        """Stop serving and release the port (a slow answer stops at its next pause)."""
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ChatServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
