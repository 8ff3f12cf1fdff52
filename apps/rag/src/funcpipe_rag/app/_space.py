"""Free space under a local store's data dir: checked before the store opens and before each
write (too little is ``NO_SPACE``, a backend failure: exit 3, never a crash)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from funcpipe.result import Err, ErrInfo, Ok, Result

from funcpipe_rag.domain import NO_SPACE, WRITE_MARGIN, Room, Stage

FreeBytes = Callable[[Path], int]
"""Free bytes on the file system holding a path (the seam tests use for a full disk)."""


def disk_free(path: Path) -> int:
    """``shutil.disk_usage(path).free`` of ``path`` or its nearest existing ancestor."""
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


def room_under(
    data_dir: Path, free_bytes: FreeBytes = disk_free, margin: int = WRITE_MARGIN
) -> Room:
    """The ``Room`` check of a local store under ``data_dir``: ``n`` bytes plus ``margin``."""

    def room(n: int) -> Result[None, ErrInfo]:
        free = free_bytes(data_dir)
        if free >= n + margin:
            return Ok(None)
        mib = 1024 * 1024
        msg = (
            f"not enough free space under {data_dir}: {free // mib} MiB free, "
            f"the next writes need about {(n + margin + mib - 1) // mib} MiB; "
            "free some space or use another --data-dir"
        )
        return Err(ErrInfo(NO_SPACE, msg, stage=Stage.STORE, ctx={"free": free, "needed": n}))

    return room
