"""Mapping HTTP responses and httpx exceptions to error codes."""

from __future__ import annotations

import contextlib
import email.utils
import json
import math
import time
from collections.abc import Mapping
from http import HTTPStatus
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from funcpipe.ports import code_for_status
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

_SECRET_HINTS = ("key", "token", "secret", "password", "sig")
_MAX_MSG = 300


def safe_url(url: str | httpx.URL) -> str:
    """``url`` without user info, with secret-looking query values (key, token, ...) redacted.

    Never raises: a URL that does not parse gives ``"<invalid URL>"``.
    """
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
        query = urlencode(
            [
                (k, "REDACTED" if any(h in k.lower() for h in _SECRET_HINTS) else v)
                for k, v in parse_qsl(parts.query, keep_blank_values=True)
            ]
        )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "<invalid URL>"


def check_url(url: str | httpx.URL) -> Result[httpx.URL, ErrInfo]:
    """An absolute ``http``/``https`` URL with a host and a port in 0..65535 -> ``Ok(URL)``;
    anything else (unparseable, relative, other scheme) -> ``Err(INVALID_INPUT)``, ctx ``url``
    (safe). Never raises."""
    u = safe_url(url)
    try:
        parsed = httpx.URL(url)
        port = parsed.port
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        return Err(
            ErrInfo.from_exception(
                exc,
                code=codes.INVALID_INPUT,
                msg=f"invalid URL {u}: {exc}"[:_MAX_MSG],
                ctx={"url": u},
            )
        )
    if parsed.scheme not in ("http", "https") or not parsed.host:
        why = "no host" if parsed.scheme in ("http", "https") else "not http(s)"
        return Err(ErrInfo(codes.INVALID_INPUT, f"invalid URL {u}: {why}", ctx={"url": u}))
    if port is not None and not 0 <= port <= 65535:
        return Err(ErrInfo(codes.INVALID_INPUT, f"invalid URL {u}: port {port}", ctx={"url": u}))
    return Ok(parsed)


def parse_retry_after(value: str | None, date_header: str | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds or an HTTP date.

    An HTTP date is measured from the response's ``Date`` header when present (so clock skew
    between client and server does not matter), else from the local wall clock. Never
    negative; ``None`` when absent or unparseable.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        secs = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, secs) if math.isfinite(secs) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time()
    if date_header:
        with contextlib.suppress(TypeError, ValueError):
            now = email.utils.parsedate_to_datetime(date_header).timestamp()
    return max(0.0, when.timestamp() - now)


def server_error(body: bytes) -> tuple[str, str | None]:
    """The server's message and error type/code from the common error-body shapes.

    Shapes: ``{"error": {"message", "type", "code"}}``, ``{"error": "..."}``,
    ``{"detail": ...}``, ``{"message": ...}``; an HTML page: ``""`` (its markup is no
    message); anything else: the body text on one line, truncated.
    """
    text = body.decode("utf-8", "replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        if text.startswith("<"):
            return "", None
        return " ".join(text.split())[:_MAX_MSG], None
    if isinstance(doc, dict):
        err = doc.get("error")
        if isinstance(err, dict):
            kind = err.get("code") or err.get("type")
            type_ = err.get("type")
            if err.get("code") == "insufficient_quota" or type_ == "insufficient_quota":
                kind = "insufficient_quota"
            return str(err.get("message", err))[:_MAX_MSG], None if kind is None else str(kind)
        if isinstance(err, str):
            return err[:_MAX_MSG], None
        for key in ("detail", "message"):
            if key in doc:
                val = doc[key]
                return (val if isinstance(val, str) else json.dumps(val))[:_MAX_MSG], None
    return text[:_MAX_MSG], None


def error_for_response(
    status: int, headers: Mapping[str, str], body: bytes, url: str | httpx.URL
) -> ErrInfo:
    """An ErrInfo for a non-2xx response; ctx: ``status``, ``url`` (safe), ``server_message``,
    ``error_type`` when given, ``retry_after_s`` when a Retry-After header parses."""
    message, kind = server_error(body)
    code = code_for_status(status, kind)
    ctx: dict[str, object] = {"status": status, "url": safe_url(url), "server_message": message}
    if kind is not None:
        ctx["error_type"] = kind
    retry_after = parse_retry_after(headers.get("retry-after"), headers.get("date"))
    if retry_after is not None:
        ctx["retry_after_s"] = retry_after
    message = " ".join(message.split())
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    head = f"HTTP {status} {reason}".rstrip() + f" from {safe_url(url)}"
    return ErrInfo(code, f"{head}: {message}"[:_MAX_MSG] if message else head, ctx=ctx)


def error_for_exception(exc: Exception, url: str | httpx.URL) -> ErrInfo:
    """httpx exceptions: timeouts -> TIMEOUT; connect/read/write/protocol errors -> NETWORK;
    bad URLs -> INVALID_INPUT; other httpx errors -> SERVICE_SPECIFIC; any other exception
    (a bug below the adapter) -> UNEXPECTED."""
    if isinstance(exc, httpx.TimeoutException):
        code = codes.TIMEOUT
    elif isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        code = codes.INVALID_INPUT
    elif isinstance(exc, httpx.TransportError):
        code = codes.NETWORK
    elif isinstance(exc, httpx.HTTPError | httpx.StreamError | httpx.CookieConflict):
        code = codes.SERVICE_SPECIFIC
    else:
        code = codes.UNEXPECTED
    u = safe_url(url)
    return ErrInfo.from_exception(
        exc,
        code=code,
        msg=f"{type(exc).__name__} for {u}: {exc}"[:_MAX_MSG],
        ctx={"url": u},
    )
