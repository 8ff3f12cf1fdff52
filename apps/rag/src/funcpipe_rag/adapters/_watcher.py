"""File-system events for ``watch`` (watchfiles), and the file checks a batch makes.

``changed_paths`` yields sets of absolute paths that changed (created, modified, deleted or
moved; the kind is not trusted: a batch looks at each path itself). It never raises: when the
OS watcher cannot start (an exhausted inotify watch limit, a file system without events) it
warns, naming the cause and the fix, and polls instead; ``poll=True`` polls from the start.
It ends when ``stop`` is set (within ``STOP_MS``). Cancellation: closing the generator stops
the watcher thread.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator, Callable, Sequence

from watchfiles import awatch

STOP_MS = 300
"""How long the watcher thread may take to see ``stop`` (its wait between checks)."""

POLL_MS = 300
"""The polling interval (``--poll``, or the fallback)."""

LIMIT_FIX = "raise it (sudo sysctl fs.inotify.max_user_watches=524288, or watch fewer folders)"


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "limit" in text.lower() or getattr(exc, "errno", None) == 28:  # ENOSPC: no watches left
        return f"the inotify watch limit is reached ({text}); {LIMIT_FIX}"
    return f"the OS file watcher failed ({text}); check the folder is a local file system"


async def changed_paths(
    roots: Sequence[str],
    stop: asyncio.Event,
    *,
    poll: bool = False,
    warn: Callable[[str], None] = lambda _: None,
) -> AsyncIterator[set[str]]:
    """Sets of changed paths under ``roots`` (absolute when the roots are) until ``stop``
    is set."""
    polling = poll
    if poll:
        warn(f"polling every {POLL_MS} ms (--poll): changes show up a little later")
    while True:
        try:
            async for changes in awatch(
                *roots,
                stop_event=stop,
                debounce=400,
                step=50,
                rust_timeout=STOP_MS,
                force_polling=polling,
                poll_delay_ms=POLL_MS,
                recursive=True,
                ignore_permission_denied=True,
            ):
                yield {p for _, p in changes}  # absolute: the roots are
            return
        except Exception as exc:  # the watcher could not start or died: poll instead
            if polling:
                warn(f"polling failed ({exc}); watch stops: run ingest on a schedule instead")
                return
            warn(f"{_why(exc)}; falling back to polling every {POLL_MS} ms")
            polling = True


def is_hidden(rel: str) -> bool:
    """Whether a ``/``-separated relative path has a hidden part (the walk leaves those out)."""
    return any(part.startswith(".") for part in rel.split("/") if part not in ("", "."))


def kind_of_path(path: str) -> str:
    """``file``, ``dir``, ``gone`` (confirmed: the path is missing and its folder lists
    cleanly without it) or ``unknown`` (anything else: unreadable, a special file, a folder
    that cannot be listed; never pruned)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "gone" if _listed_without(path) else "unknown"
    except OSError:
        return "unknown"
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    return "unknown"


def _listed_without(path: str) -> bool:
    parent, name = os.path.split(path.rstrip("/"))
    try:
        names = os.listdir(parent)
    except FileNotFoundError:
        return bool(parent) and parent != path and _listed_without(parent)
    except OSError:
        return False
    return name not in names


def files_under(folder: str) -> list[str]:
    """Every regular file under ``folder`` (symlinked folders not followed; unreadable ones
    left to the next reconcile), sorted."""
    out: list[str] = []
    for top, dirs, files in os.walk(folder):
        dirs.sort()
        out.extend(os.path.join(top, f) for f in sorted(files))
    return out
