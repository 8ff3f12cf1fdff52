"""Opening files and folders under allowed roots without following a link out of them.

The boundary is checked on what was opened, not on a name read earlier: ``open_inside`` opens
a path (links resolved by the OS), then asks the OS where the descriptor really is
(``/proc/self/fd/N`` on Linux, ``F_GETPATH`` on macOS; elsewhere the descriptor's
(device, inode) must be the file at the resolved path) and closes it unless that lies under one
of the roots. Reads then go through that descriptor, so a file swapped for a link after any
earlier check cannot escape. The resolved path is also checked before opening, so a link out
of the roots is never even opened (no FIFO waits, no device opens). A link whose target stays
inside the roots keeps working.

Laws: ``open_inside`` returns a descriptor only of a file or folder whose real path is under a
root; it raises ``OutsideRoot`` (a ``PermissionError``) otherwise and ``OSError`` as the OS
does; it never leaks a descriptor.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

OUTSIDE_ROOT = "(outside root)"
"""How a link out of the allowed roots is counted in ``sources_skipped``."""

_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO inside a root must not block the open
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


_PROC = os.path.isdir("/proc/self/fd")  # Linux: a descriptor's real path is readable there


class OutsideRoot(PermissionError):
    """What was named resolves outside every allowed root."""


class NotRegular(OSError):
    """A FIFO, socket or device where a document was expected."""


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


@dataclass(frozen=True, slots=True)
class Confine:
    """The real paths of the allowed roots (resolved once, when the policy is made) and the
    absolute paths they were given as (for messages)."""

    roots: tuple[str, ...]
    given: tuple[str, ...] = ()

    @classmethod
    def of(cls, roots: Iterable[Path | str]) -> Confine:
        listed = [os.path.abspath(r) for r in roots]
        return cls(tuple(os.path.realpath(r) for r in listed), tuple(listed))

    def holds(self, real: str) -> bool:
        """Whether the real path ``real`` lies under a root."""
        return any(_inside(real, r) for r in self.roots)

    def shown(self, path: str | os.PathLike[str]) -> str:
        """``path`` as a message names it: relative to the root it is under (by name, no
        server path); a path under no root shows its last name only."""
        p = os.path.abspath(path)
        best = ""
        for cand in (*self.given, *self.roots):
            if _inside(p, cand) and len(cand) > len(best):
                best = cand
        if not best:
            return os.path.basename(p)
        rel = os.path.relpath(p, best)
        name = os.path.basename(best.rstrip(os.sep)) or os.sep
        return name if rel == "." else f"{name}/{rel}"


def _fd_path(fd: int) -> str | None:
    if _PROC:
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return None
    try:
        import fcntl
    except ImportError:  # Windows
        return None
    getpath = getattr(fcntl, "F_GETPATH", None)  # macOS
    if getpath is None:
        return None
    try:
        raw = fcntl.fcntl(fd, getpath, bytes(1024))
    except OSError:
        return None
    return os.fsdecode(raw.split(b"\0", 1)[0])


def _opened_inside(fd: int, real: str, confine: Confine) -> bool:
    where = _fd_path(fd)
    if where is not None:
        return confine.holds(where)
    try:  # no way to ask the OS: the descriptor must be the file at the checked real path
        now, st = os.lstat(real), os.fstat(fd)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)


def open_inside(path: str | os.PathLike[str], confine: Confine, *, folder: bool = False) -> int:
    """A read-only descriptor of ``path`` (a folder when ``folder``, else a regular file)
    that really lies under a root of ``confine``. Raises ``OutsideRoot`` or ``OSError``
    (``IsADirectoryError`` / ``NotADirectoryError`` for the wrong kind)."""
    p = os.fspath(path)
    real = os.path.realpath(p)
    if not confine.holds(real):
        raise OutsideRoot(f"{p} leads outside the allowed roots")
    fd = os.open(p, _FLAGS | (_DIRECTORY if folder else _NONBLOCK))
    try:
        if not _opened_inside(fd, real, confine):
            raise OutsideRoot(f"{p} leads outside the allowed roots")
        mode = os.fstat(fd).st_mode
        if folder and not stat.S_ISDIR(mode):
            raise NotADirectoryError(20, "not a folder", p)
        if not folder and stat.S_ISDIR(mode):
            raise IsADirectoryError(21, "is a directory", p)
        if not folder and not stat.S_ISREG(mode):
            raise NotRegular(errno.EINVAL, "not a regular file", p)
        if not folder and _NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_inside(path: str | os.PathLike[str], confine: Confine, limit: int) -> bytes:
    """At most ``limit`` bytes of the file at ``path``, read through a descriptor
    ``open_inside`` checked (blocking; run it off the event loop)."""
    fd = open_inside(path, confine)
    with os.fdopen(fd, "rb", buffering=0) as f:
        parts: list[bytes] = []
        got = 0
        while got < limit:
            part = f.read(min(1 << 16, limit - got))
            if not part:
                break
            parts.append(part)
            got += len(part)
        return b"".join(parts)


def read_gz_inside(path: str | os.PathLike[str], confine: Confine, limit: int) -> bytes:
    """``read_inside`` of a gzip file: at most ``limit`` decompressed bytes."""
    import gzip

    fd = open_inside(path, confine)
    with os.fdopen(fd, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as f:
        return f.read(limit)
