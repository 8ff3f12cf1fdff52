"""HttpClient: GET capabilities on a shell-owned httpx.AsyncClient."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen

from ._errors import check_url, error_for_exception, error_for_response, safe_url

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_LINE_BYTES = 1024 * 1024
_ERROR_BODY_LIMIT = 64 * 1024


async def _error_body(resp: httpx.Response) -> bytes:
    body = b""
    async for chunk in resp.aiter_bytes():
        body += chunk
        if len(body) >= _ERROR_BODY_LIMIT:
            break
    return body


def _too_large(url: str, limit: int, what: str = "body") -> ErrInfo:
    return ErrInfo(
        codes.TOO_LARGE,
        f"{what} of {url} is larger than {limit} bytes",
        ctx={"url": url, "max_bytes": limit},
    )


class HttpClient:
    """GET-only HTTP capability. The shell owns (opens and closes) the ``httpx.AsyncClient``.

    Every method returns a plan or stream and never raises, whatever the input; failures are
    Errs (see ``check_url``, ``error_for_response`` and ``error_for_exception``): a bad URL ->
    INVALID_INPUT (nothing is sent), non-2xx by status (404 -> NOT_FOUND, 429 -> RATE_LIMIT with
    ``retry_after_s``, 5xx -> TRANSIENT, ...), timeouts -> TIMEOUT, connection failures ->
    NETWORK. No retries here: apply a RetryPolicy outside.
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def _get_body(
        self, url: str, max_bytes: int
    ) -> Result[tuple[bytes, str | None], ErrInfo]:
        checked = check_url(url)
        if isinstance(checked, Err):
            return checked
        try:
            async with self._client.stream("GET", checked.value) as resp:
                if not resp.is_success:
                    body = await _error_body(resp)
                    return Err(error_for_response(resp.status_code, resp.headers, body, url))
                declared = resp.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                    return Err(_too_large(safe_url(url), max_bytes))
                data = bytearray()
                async for chunk in resp.aiter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        return Err(_too_large(safe_url(url), max_bytes))
                return Ok((bytes(data), resp.charset_encoding))
        except Exception as exc:  # an adapter never raises; CancelledError propagates
            return Err(error_for_exception(exc, url))

    def get_text(self, url: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> AsyncPlan[str]:
        """GET ``url`` as text, streamed and size-limited (TOO_LARGE past ``max_bytes``).

        Decoded with the response charset (UTF-8 by default); undecodable -> DECODE_ERROR.
        """

        async def _run() -> Result[str, ErrInfo]:
            res = await self._get_body(url, max_bytes)
            if isinstance(res, Err):
                return res
            data, charset = res.value
            try:
                return Ok(data.decode(charset or "utf-8"))
            except (UnicodeDecodeError, LookupError) as exc:
                return Err(
                    ErrInfo.from_exception(
                        exc,
                        code=codes.DECODE_ERROR,
                        msg=f"{safe_url(url)}: body is not valid {charset or 'utf-8'}",
                        ctx={"url": safe_url(url)},
                    )
                )

        return _run

    def get_json(self, url: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> AsyncPlan[object]:
        """GET ``url`` and parse JSON; invalid JSON -> SERVICE_SPECIFIC (ctx ``url``)."""

        async def _run() -> Result[object, ErrInfo]:
            res = await self._get_body(url, max_bytes)
            if isinstance(res, Err):
                return res
            try:
                value: object = json.loads(res.value[0])
            except ValueError as exc:
                return Err(
                    ErrInfo.from_exception(
                        exc,
                        code=codes.SERVICE_SPECIFIC,
                        msg=f"{safe_url(url)}: invalid JSON: {exc}",
                        ctx={"url": safe_url(url)},
                    )
                )
            return Ok(value)

        return _run

    def stream_lines(
        self, url: str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    ) -> AsyncGen[str]:
        """Stream the UTF-8 lines of ``url`` (without line endings) as they arrive.

        A request failure gives one Err and ends the stream. Per line: longer than
        ``max_line_bytes`` -> Err(TOO_LARGE), undecodable -> Err(DECODE_ERROR); the stream goes
        on. The response is closed when the stream ends, is closed early or is cancelled.
        """
        u = safe_url(url)

        def _line(raw: bytes, lineno: int) -> Result[str, ErrInfo]:
            if len(raw) > max_line_bytes:
                return Err(_too_large(u, max_line_bytes, f"line {lineno}").with_ctx(line=lineno))
            try:
                return Ok(raw.rstrip(b"\r").decode("utf-8"))
            except UnicodeDecodeError as exc:
                return Err(
                    ErrInfo.from_exception(
                        exc,
                        code=codes.DECODE_ERROR,
                        msg=f"{u} line {lineno}: invalid UTF-8",
                        ctx={"url": u, "line": lineno},
                    )
                )

        async def _lines() -> AsyncIterator[Result[str, ErrInfo]]:
            lineno = 1
            checked = check_url(url)
            if isinstance(checked, Err):
                yield checked
                return
            try:
                async with self._client.stream("GET", checked.value) as resp:
                    if not resp.is_success:
                        body = await _error_body(resp)
                        yield Err(error_for_response(resp.status_code, resp.headers, body, url))
                        return
                    buf = b""
                    skipping = False
                    async for chunk in resp.aiter_bytes():
                        buf += chunk
                        while (nl := buf.find(b"\n")) >= 0:
                            raw, buf = buf[:nl], buf[nl + 1 :]
                            if skipping:
                                skipping = False
                            else:
                                yield _line(raw, lineno)
                            lineno += 1
                        if len(buf) > max_line_bytes + 1:
                            if not skipping:
                                yield _line(buf, lineno)  # TOO_LARGE
                                skipping = True
                            buf = b""
                    if buf and not skipping:
                        yield _line(buf, lineno)
            except Exception as exc:  # an adapter never raises; CancelledError propagates
                yield Err(error_for_exception(exc, url).with_ctx(line=lineno))

        return _lines
