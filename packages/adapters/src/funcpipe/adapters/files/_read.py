"""Reading text files with aiofiles: whole (size-limited) or streamed line by line."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import aiofiles
import aiofiles.os
from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen

from ._errors import os_error_info

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_LINE_BYTES = 1024 * 1024
_READ_CHUNK = 64 * 1024


def _decode(data: bytes, path: str, where: str = "", *, bom: bool = True) -> Result[str, ErrInfo]:
    nul = data.find(b"\x00")
    if nul >= 0:
        return Err(
            ErrInfo(
                codes.DECODE_ERROR,
                f"{path}{where}: binary content (NUL byte at offset {nul})",
                ctx={"path": path, "offset": nul},
            )
        )
    try:
        return Ok(data.decode("utf-8-sig" if bom else "utf-8"))
    except UnicodeDecodeError as exc:
        return Err(
            ErrInfo(
                codes.DECODE_ERROR,
                f"{path}{where}: invalid UTF-8 at byte {exc.start}",
                cause=exc,
                ctx={"path": path, "offset": exc.start},
            )
        )


def _read_head_sync(path: str, limit: int) -> bytes:
    # Never ``read(limit)`` at once: CPython allocates ``limit`` bytes up front for it (8 MiB
    # per file for a default limit, per concurrent read). Ask for the file's size + 1 (EOF
    # shows as a short read), then go on in small chunks if it grew or has no size (a pipe).
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        ask = min(limit, size + 1 if size > 0 else _READ_CHUNK)
        parts: list[bytes] = []
        got = 0
        while got < limit:
            part = f.read(min(ask, limit - got))
            if not part:
                break
            parts.append(part)
            got += len(part)
            ask = _READ_CHUNK
        return parts[0] if len(parts) == 1 else b"".join(parts)


_read_head = aiofiles.os.wrap(_read_head_sync)
"""``await _read_head(path, limit)``: open, read at most ``limit`` bytes and close in ONE hop
to the loop's default executor (``aiofiles.open`` takes a hop for each of the three)."""


def read_text(
    path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> AsyncPlan[str]:
    """A plan that reads ``path`` as UTF-8 text (a BOM is dropped).

    Errors: NOT_FOUND, PERMISSION_DENIED, INVALID_INPUT (a directory, a symlink loop),
    TOO_LARGE (more than ``max_bytes``; ``ctx["max_bytes"]``), DECODE_ERROR (invalid UTF-8 or
    binary content, i.e. a NUL byte; ``ctx["offset"]``), EMPTY_INPUT (no bytes, or only
    whitespace). Never reads more than ``max_bytes + 1`` bytes. Opening, reading and closing
    run together in one call off the event loop (the loop's default executor).
    """
    if max_bytes < 1:
        raise ValueError(f"read_text: max_bytes must be >= 1, got {max_bytes}")
    p = os.fspath(path)

    async def _read() -> Result[str, ErrInfo]:
        try:
            data = await _read_head(p, max_bytes + 1)
        except OSError as exc:
            return Err(os_error_info(exc, p))
        return text_of(data, p, max_bytes)

    return _read


def text_of(data: bytes, p: str, max_bytes: int) -> Result[str, ErrInfo]:
    """The checks of ``read_text`` on the bytes read (at most ``max_bytes + 1`` of them)."""
    if len(data) > max_bytes:
        return Err(
            ErrInfo(
                codes.TOO_LARGE,
                f"{p}: larger than {max_bytes} bytes",
                ctx={"path": p, "max_bytes": max_bytes},
            )
        )
    decoded = _decode(data, p)
    if isinstance(decoded, Ok) and not decoded.value.strip():
        what = "only whitespace, no text" if data else "empty file"
        return Err(ErrInfo(codes.EMPTY_INPUT, f"{p}: {what}", ctx={"path": p}))
    return decoded


def read_lines(
    path: str | os.PathLike[str], *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> AsyncGen[str]:
    """Stream the lines of a UTF-8 file, without their line ending (``\\n`` or ``\\r\\n``).

    Per-line errors flow on and the stream goes on with the next line: a line longer than
    ``max_line_bytes`` gives ``Err(TOO_LARGE)`` (it is skipped without being held in memory),
    an undecodable line gives ``Err(DECODE_ERROR)``; ``ctx["line"]`` is the 1-based line number.
    Failing to open the file gives one Err (NOT_FOUND, PERMISSION_DENIED, ...) and ends the
    stream. The file is closed when the stream ends, is closed early or is cancelled.
    """
    if max_line_bytes < 1:
        raise ValueError(f"read_lines: max_line_bytes must be >= 1, got {max_line_bytes}")
    p = os.fspath(path)

    def _line(raw: bytes, lineno: int) -> Result[str, ErrInfo]:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        res = _decode(raw, p, f" line {lineno}", bom=lineno == 1)
        if isinstance(res, Err):
            return Err(res.error.with_ctx(line=lineno))
        return res

    def _too_long(lineno: int) -> Err[ErrInfo]:
        return Err(
            ErrInfo(
                codes.TOO_LARGE,
                f"{p} line {lineno}: longer than {max_line_bytes} bytes, skipped",
                ctx={"path": p, "line": lineno, "max_line_bytes": max_line_bytes},
            )
        )

    async def _lines() -> AsyncIterator[Result[str, ErrInfo]]:
        try:
            f = await aiofiles.open(p, "rb")
        except OSError as exc:
            yield Err(os_error_info(exc, p))
            return
        try:
            buf = b""
            lineno = 1
            skipping = False  # inside an over-long line: drop bytes until the next newline
            while True:
                try:
                    chunk: bytes = await f.read(_READ_CHUNK)
                except OSError as exc:
                    yield Err(os_error_info(exc, p).with_ctx(line=lineno))
                    return
                if not chunk:
                    break
                buf += chunk
                while True:
                    nl = buf.find(b"\n")
                    if nl < 0:
                        break
                    raw, buf = buf[:nl], buf[nl + 1 :]
                    if skipping:
                        skipping = False
                    elif len(raw.rstrip(b"\r")) > max_line_bytes:
                        yield _too_long(lineno)
                    else:
                        yield _line(raw, lineno)
                    lineno += 1
                if len(buf) > max_line_bytes + 1:
                    if not skipping:
                        yield _too_long(lineno)
                        skipping = True
                    buf = b""
            if buf and not skipping:
                yield _too_long(lineno) if len(buf) > max_line_bytes else _line(buf, lineno)
        finally:
            await f.close()

    return _lines
