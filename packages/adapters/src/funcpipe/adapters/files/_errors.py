"""Mapping OS errors on files to error codes."""

from __future__ import annotations

import errno

from funcpipe.result import ErrInfo, codes


def os_error_info(exc: OSError, path: str, key: str | None = None) -> ErrInfo:
    """``OSError`` -> ErrInfo: NOT_FOUND, PERMISSION_DENIED, INVALID_INPUT (directory, symlink
    loop, not a regular file) or UNEXPECTED; ``ctx`` holds the path and errno."""
    if isinstance(exc, FileNotFoundError):
        code, what = codes.NOT_FOUND, "not found"
    elif isinstance(exc, PermissionError):
        code, what = codes.PERMISSION_DENIED, "permission denied"
    elif isinstance(exc, IsADirectoryError):
        code, what = codes.INVALID_INPUT, "is a directory"
    elif exc.errno == errno.ELOOP:
        code, what = codes.INVALID_INPUT, "symlink loop"
    else:
        code, what = codes.UNEXPECTED, exc.strerror or type(exc).__name__
    return ErrInfo(
        code,
        f"{path}: {what}",
        path=(key,) if key is not None else (),
        cause=exc,
        ctx={"path": path, "errno": exc.errno},
    )
