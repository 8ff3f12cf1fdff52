"""walk_files: a recursive, deterministic, symlink-loop-safe directory walk."""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from pathlib import Path

from funcpipe.adapters.runtime import run_blocking
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen

from ._errors import os_error_info


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file found by ``walk_files``: absolute ``path``, ``key`` relative to the walk root
    with forward slashes (the file's name when the root is a file), ``size`` in bytes."""

    path: Path
    key: str
    size: int


@dataclass(frozen=True, slots=True)
class _Entry:
    """What the walk keeps of a directory entry (a full ``stat_result`` each would cost
    ~0.5 KiB per entry of a big directory while it is walked)."""

    name: str
    is_symlink: bool
    mode: int  # st_mode following symlinks; 0 when stat failed (see ``error``)
    ident: tuple[int, int] | None  # (st_dev, st_ino) of a directory
    size: int
    error: OSError | None


def _normalise_exts(extensions: Collection[str] | None) -> frozenset[str] | None:
    if extensions is None:
        return None
    out = set()
    for ext in extensions:
        e = ext.lower()
        out.add(e if e.startswith(".") else "." + e)
    return frozenset(out)


def _list_dir(path: str, skip_hidden: bool) -> list[_Entry]:
    entries: list[_Entry] = []
    with os.scandir(path) as it:
        for de in it:
            if skip_hidden and de.name.startswith("."):
                continue  # pruned: never stat-ed, never descended into
            try:
                st = de.stat(follow_symlinks=True)
            except OSError as exc:
                entries.append(_Entry(de.name, de.is_symlink(), 0, None, 0, exc))
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            ident = (st.st_dev, st.st_ino) if is_dir else None
            entries.append(_Entry(de.name, de.is_symlink(), st.st_mode, ident, st.st_size, None))
    entries.sort(key=lambda e: e.name)
    return entries


def _err(code: str, msg: str, key: str, path: str) -> Err[ErrInfo]:
    return Err(ErrInfo(code, msg, path=(key,), ctx={"path": path}))


def walk_files(
    root: str | os.PathLike[str],
    *,
    extensions: Collection[str] | None = None,
    follow_symlinks: bool = True,
    skip_hidden: bool = True,
) -> AsyncGen[FileRef]:
    """Stream the regular files under ``root``: deterministic, depth first; in each directory
    its files in sorted name order, then its subdirectories in sorted name order.

    - ``extensions`` (e.g. ``{".md", "txt"}``, case-insensitive) keeps only matching files;
      others found in a directory are skipped silently. A ``root`` that is itself a file with
      another extension gives ``Err(UNSUPPORTED)``. ``None`` keeps every file.
    - ``skip_hidden`` (the default): entries under ``root`` whose name starts with ``.`` (files
      and directories such as ``.git``, ``.venv``, ``.funcpipe``) are pruned during the walk:
      never listed, stat-ed or descended into, and never reported (not even as errors).
      ``root`` itself is always walked, whatever its name. ``False`` walks everything.
    - Symlinks are followed when ``follow_symlinks`` (skipped otherwise). Each real directory
      is walked once (tracked by device and inode), so a symlink loop, or a second link to a
      directory already walked, gives one ``Err(INVALID_INPUT)`` and the walk goes on.
    - An entry that cannot be read gives ``Err(PERMISSION_DENIED | NOT_FOUND | INVALID_INPUT)``
      with ``path[0]`` = its key and ``ctx["path"]``, and the walk goes on. A missing ``root``
      gives one ``Err(NOT_FOUND)``.
    - Directory listing runs off the event loop. Nothing happens until the stream is driven.
    """
    root_path = Path(root).absolute()
    exts = _normalise_exts(extensions)

    def _wanted(name: str) -> bool:
        return exts is None or os.path.splitext(name)[1].lower() in exts

    async def _walk() -> AsyncIterator[Result[FileRef, ErrInfo]]:
        try:
            st = await run_blocking(lambda: os.stat(root_path))
        except OSError as exc:
            yield Err(os_error_info(exc, str(root_path), root_path.name))
            return
        if stat.S_ISREG(st.st_mode):
            if not _wanted(root_path.name):
                yield _err(
                    codes.UNSUPPORTED,
                    f"{root_path}: unsupported extension (expected one of {sorted(exts or ())})",
                    root_path.name,
                    str(root_path),
                )
            else:
                yield Ok(FileRef(root_path, root_path.name, st.st_size))
            return
        if not stat.S_ISDIR(st.st_mode):
            yield _err(codes.INVALID_INPUT, f"{root_path}: not a file or directory", "", "")
            return
        visited: set[tuple[int, int]] = {(st.st_dev, st.st_ino)}
        # Stack of (directory path, key prefix); popped LIFO, children pushed reversed.
        stack: list[tuple[Path, str]] = [(root_path, "")]
        while stack:
            dir_path, prefix = stack.pop()
            try:
                listing = functools.partial(_list_dir, str(dir_path), skip_hidden)
                entries = await run_blocking(listing)
            except OSError as exc:
                yield Err(os_error_info(exc, str(dir_path), prefix.rstrip("/") or "."))
                continue
            subdirs: list[tuple[Path, str]] = []
            for e in entries:
                path, key = dir_path / e.name, prefix + e.name
                if e.is_symlink and not follow_symlinks:
                    continue
                if e.error is not None:
                    yield Err(os_error_info(e.error, str(path), key))
                    continue
                if e.ident is not None:
                    ident = e.ident
                    if ident in visited:
                        yield _err(
                            codes.INVALID_INPUT,
                            f"{path}: directory already walked (symlink loop or second link)",
                            key,
                            str(path),
                        )
                        continue
                    visited.add(ident)
                    subdirs.append((path, key + "/"))
                elif stat.S_ISREG(e.mode) and _wanted(e.name):
                    yield Ok(FileRef(path, key, e.size))
            stack.extend(reversed(subdirs))

    return _walk
