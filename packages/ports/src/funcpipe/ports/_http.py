"""The HTTP client port (GET capabilities)."""

from __future__ import annotations

from typing import Protocol

from funcpipe.async_plan import AsyncPlan
from funcpipe.result import codes
from funcpipe.streams import AsyncGen

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_LINE_BYTES = 1024 * 1024


class HttpPort(Protocol):
    """GET-only HTTP. Every method returns a plan or stream and never raises, for any input.

    Error codes: a bad URL -> INVALID_INPUT (nothing sent); 404 -> NOT_FOUND; 429 ->
    RATE_LIMIT with ``ctx["retry_after_s"]`` when the server says how long; 401/403 -> AUTH;
    400/413/422 -> INVALID_INPUT; 5xx -> TRANSIENT; timeouts -> TIMEOUT; connection failures
    -> NETWORK; a body over ``max_bytes`` -> TOO_LARGE; undecodable -> DECODE_ERROR. ``ctx``
    holds ``status`` (for a response) and ``url`` (without credentials). No retries: apply a
    RetryPolicy outside. Cancellation propagates and releases the connection.
    """

    def get_text(self, url: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> AsyncPlan[str]: ...

    def get_json(self, url: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> AsyncPlan[object]: ...

    def stream_lines(
        self, url: str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    ) -> AsyncGen[str]: ...


def code_for_status(status: int, error_kind: str | None = None) -> str:
    """The taxonomy code of an HTTP error status, for every implementation of the port:
    429 -> RATE_LIMIT (QUOTA_EXHAUSTED for ``insufficient_quota``), 401/403 -> AUTH,
    404 -> NOT_FOUND, 408 -> TIMEOUT, 400/413/422 -> INVALID_INPUT, 5xx -> TRANSIENT,
    anything else -> SERVICE_SPECIFIC."""
    if status == 429:
        return codes.QUOTA_EXHAUSTED if error_kind == "insufficient_quota" else codes.RATE_LIMIT
    if status in (401, 403):
        return codes.AUTH
    if status == 404:
        return codes.NOT_FOUND
    if status == 408:
        return codes.TIMEOUT
    if status in (400, 413, 422):
        return codes.INVALID_INPUT
    if 500 <= status <= 599:
        return codes.TRANSIENT
    return codes.SERVICE_SPECIFIC
