"""uvicorn's httptools protocol with bounded work before the app (and its key check) runs.

- A request head (request line and headers) over ``max_head`` bytes -> 431 ``TOO_LARGE``,
  connection closed; nothing more of it is parsed.
- A connection that has not sent a whole head within ``head_timeout_s`` (an idle new
  connection, a half-sent head) is closed, with 408 ``TIMEOUT`` when nothing was answered yet;
  a body not complete within ``body_timeout_s`` after its head is closed the same way.
- A request the parser rejects -> 400 ``INVALID_INPUT`` as JSON (uvicorn's is plain text).
- After such an answer the connection is half-closed and what the client still sends is
  dropped for up to 2 s, then it is closed (no reset that could lose the answer).

Idle keep-alive connections are closed by uvicorn's ``timeout_keep_alive``. Every answer here
is the API's error body (``_errors.body``).
"""

from __future__ import annotations

import asyncio
import json

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from ._errors import body
from ._guardrails import Limits


def _raw_response(status: bytes, code: str, msg: str) -> bytes:
    data = json.dumps(body(code, msg)).encode()
    head = [
        b"HTTP/1.1 " + status,
        b"content-type: application/json",
        b"content-length: " + str(len(data)).encode(),
        b"connection: close",
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + data


def protocol_for(limits: Limits) -> type[HttpToolsProtocol]:
    """The protocol class uvicorn's ``http=`` takes, bound to ``limits``."""

    class Bounded(HttpToolsProtocol):
        _timer: asyncio.TimerHandle | None = None
        _head_bytes = 0
        _in_head = True
        _refused = False
        _tail = b""

        def _refuse(self, status: bytes, code: str, msg: str) -> None:
            """Answer, then close gently: our side ends at once, what the client still sends
            is read and dropped for a moment (closing with unread data would reset the
            connection and could lose the answer)."""
            self._refused = True
            self.transport.write(_raw_response(status, code, msg))
            if self.transport.can_write_eof():
                self.transport.write_eof()
                self._disarm()
                self._timer = self.loop.call_later(2.0, self.transport.close)
            else:
                self.transport.close()

        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._timer = self.loop.call_later(seconds, self._expired)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _expired(self) -> None:
            self._timer = None
            if getattr(self, "transport", None) is None or self.transport.is_closing():
                return
            if self._refused:
                self.transport.close()
            elif self.cycle is None or self._in_head:
                msg = "the request was not sent in time"
                self._refuse(b"408 Request Timeout", "TIMEOUT", msg)
            else:
                self.transport.close()

        def __init__(
            self,
            config: Config,
            server_state: ServerState,
            app_state: dict[str, object],
            _loop: asyncio.AbstractEventLoop | None = None,
        ) -> None:
            super().__init__(config, server_state, app_state, _loop)
            self._arm(limits.head_timeout_s)  # the loop makes the connection right after

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            if self._in_head:
                room = limits.max_head - self._head_bytes
                # over the limit unless the head ends (a blank line) within it
                if len(data) > room and b"\r\n\r\n" not in self._tail + data[: max(room, 0)]:
                    msg = f"the request head is over the limit of {limits.max_head} bytes"
                    self._refuse(b"431 Request Header Fields Too Large", "TOO_LARGE", msg)
                    return
                self._head_bytes += len(data)
                self._tail = (self._tail + data)[-3:]
            super().data_received(data)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head = True
            if self._timer is None:
                self._arm(limits.head_timeout_s)

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._arm(limits.body_timeout_s)
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            self._head_bytes = 0
            self._tail = b""
            super().on_message_complete()

        def send_400_response(self, msg: str) -> None:
            self._refuse(b"400 Bad Request", "INVALID_INPUT", msg)

    return Bounded
