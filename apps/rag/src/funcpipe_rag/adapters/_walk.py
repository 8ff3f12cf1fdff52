"""Walking a folder for ingest: supported files found, the rest skipped and counted.

Rules (rag-app.md):

- Depth first and deterministic: in each folder its files in sorted name order, then its
  subfolders in sorted name order. Hidden entries (a name starting with ``.``) below the root
  are never listed or descended into.
- A file no parser handles (by extension; ``x.md.gz`` counts as ``.md``) is skipped and counted
  by its extension (``(none)`` without one), never failed.
- ``include`` / ``exclude`` are gitignore-style patterns (``pathspec``) matched against the
  path relative to the walked root: an excluded folder is not descended into; with
  ``include`` patterns only files they match are taken.
- A symlinked folder is followed once. A link to a folder inside the walked root, or a second
  link to a folder already walked, is skipped and counted as ``(second link)``; a link to one
  of its own ancestors, or a link that points at itself, is a loop: ``Err(INVALID_INPUT)``.
- Server mode (``confine``): folders are opened under the allowed roots only (``_confine``);
  a link out of them is skipped and counted as ``(outside root)``; messages name paths
  relative to their root.
- Unreadable entries give ``Err`` (``PERMISSION_DENIED``, ``NOT_FOUND`` for a dangling link)
  with ``path[0]`` the entry's path relative to the root; the walk goes on.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pathspec
from funcpipe.adapters.files import os_error_info
from funcpipe.adapters.runtime import run_blocking
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen

from funcpipe_rag.domain import Stage

from ._confine import OUTSIDE_ROOT, Confine, OutsideRoot, open_inside

SECOND_LINK = "(second link)"
NO_EXTENSION = "(none)"


@dataclass(frozen=True, slots=True)
class Found:
    """A file to ingest: its path and its path relative to the walked root (``/``-separated,
    the OS name as it is; ``""`` when the root is the file)."""

    path: Path
    rel: str


@dataclass(frozen=True, slots=True)
class Filters:
    """``include`` / ``exclude`` gitignore-style patterns (empty: everything is included)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def check(
        self,
    ) -> Result[tuple[pathspec.GitIgnoreSpec | None, pathspec.GitIgnoreSpec | None], ErrInfo]:
        """The compiled patterns, or ``INVALID_INPUT`` (stage ``usage``) for a bad one."""
        try:
            inc = pathspec.GitIgnoreSpec.from_lines(self.include) if self.include else None
            exc = pathspec.GitIgnoreSpec.from_lines(self.exclude) if self.exclude else None
        except (ValueError, TypeError) as err:
            msg = f"bad --include/--exclude pattern: {err}"
            return Err(ErrInfo(codes.INVALID_INPUT, msg, stage=Stage.USAGE))
        return Ok((inc, exc))


def skip_reason(name: str) -> str:
    """How a skipped file is counted: its extension, lower case (``(none)`` without one)."""
    ext = os.path.splitext(name)[1].lower()
    return ext if ext and ext != "." else NO_EXTENSION


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    is_link: bool
    mode: int
    ident: tuple[int, int] | None
    error: OSError | None
    outside: bool = False


def _list_dir(path: str) -> list[_Entry]:
    """The entries of folder ``path`` (links followed)."""
    with os.scandir(path) as it:
        return _entries(it, path, None)


def _list_dir_inside(path: str, confine: Confine) -> list[_Entry]:
    """``_list_dir`` of a folder opened by ``open_inside`` and listed through that descriptor;
    a link out of the roots is marked ``outside`` without its target being looked at."""
    fd = open_inside(path, confine, folder=True)
    try:
        with os.scandir(fd if os.scandir in os.supports_fd else path) as it:
            return _entries(it, path, confine)
    finally:
        os.close(fd)


def _entries(
    it: Iterator[os.DirEntry[str]] | Iterator[os.DirEntry[bytes]],
    path: str,
    confine: Confine | None,
) -> list[_Entry]:
    out: list[_Entry] = []
    for de in it:
        name = os.fsdecode(de.name)
        if name.startswith("."):
            continue
        link = de.is_symlink()
        real = os.path.realpath(os.path.join(path, name)) if link and confine else ""
        if confine is not None and real and not confine.holds(real):
            out.append(_Entry(name, True, 0, None, None, outside=True))
            continue
        try:
            st = de.stat(follow_symlinks=True)
        except OSError as exc:
            out.append(_Entry(name, link, 0, None, exc))
            continue
        ident = (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None
        out.append(_Entry(name, link, st.st_mode, ident, None))
    out.sort(key=lambda e: e.name)
    return out


def _inside(real: str, root_real: str) -> bool:
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def _loop(rel: str, what: str) -> Err[ErrInfo]:
    return Err(ErrInfo(codes.INVALID_INPUT, f"symlink loop: {what}", path=(rel,)))


def walk_tree(
    root: Path,
    supported: Callable[[str], bool],
    filters: Filters,
    skipped: Counter[str],
    confine: Confine | None = None,
) -> AsyncGen[Found]:
    """The files under folder ``root`` by the module's rules; each skipped file adds one to
    ``skipped[reason]``. ``root`` must be a folder (the caller checks); nothing happens until
    the stream is driven; directory listing runs off the event loop. With ``confine`` (server
    mode) every folder is listed through a descriptor checked by ``open_inside`` and a link
    out of the roots is skipped and counted as ``(outside root)``, its target never opened."""

    def show(p: Path) -> str:
        return confine.shown(p) if confine is not None else str(p)

    async def _gen() -> AsyncIterator[Result[Found, ErrInfo]]:
        compiled = filters.check()
        if isinstance(compiled, Err):
            yield compiled
            return
        inc, exc = compiled.value
        try:
            st = await run_blocking(partial(os.stat, root))
            root_real = await run_blocking(partial(os.path.realpath, root))
        except OSError as err:
            yield Err(os_error_info(err, show(root), ""))
            return
        top = (st.st_dev, st.st_ino)
        visited: set[tuple[int, int]] = {top}
        stack: list[tuple[Path, str, frozenset[tuple[int, int]]]] = [(root, "", frozenset({top}))]
        while stack:
            folder, prefix, ancestors = stack.pop()
            try:
                listing = (
                    partial(_list_dir, str(folder))
                    if confine is None
                    else partial(_list_dir_inside, str(folder), confine)
                )
                entries = await run_blocking(listing)
            except OutsideRoot:
                skipped[OUTSIDE_ROOT] += 1
                continue
            except OSError as err:
                yield Err(os_error_info(err, show(folder), prefix.rstrip("/") or "."))
                continue
            subdirs: list[tuple[Path, str, frozenset[tuple[int, int]]]] = []
            for e in entries:
                path, rel = folder / e.name, prefix + e.name
                if exc is not None and (exc.match_file(rel) or exc.match_file(rel + "/")):
                    continue
                if e.outside:
                    skipped[OUTSIDE_ROOT] += 1
                    continue
                if e.error is not None:
                    if e.error.errno == errno.ELOOP:
                        yield _loop(rel, f"{show(path)} points at itself")
                    else:
                        yield Err(os_error_info(e.error, show(path), rel))
                    continue
                if e.ident is not None:
                    if e.ident in ancestors:
                        yield _loop(rel, f"{show(path)} points at its own ancestor folder")
                        continue
                    if e.is_link:
                        real = await run_blocking(partial(os.path.realpath, path))
                        if _inside(real, root_real) or e.ident in visited:
                            skipped[SECOND_LINK] += 1
                            continue
                    elif e.ident in visited:
                        skipped[SECOND_LINK] += 1
                        continue
                    visited.add(e.ident)
                    subdirs.append((path, rel + "/", ancestors | {e.ident}))
                    continue
                if not stat.S_ISREG(e.mode):
                    continue  # sockets, fifos, devices: not documents
                if inc is not None and not inc.match_file(rel):
                    continue
                if not supported(e.name):
                    skipped[skip_reason(e.name)] += 1
                    continue
                yield Ok(Found(path, rel))
            stack.extend(reversed(subdirs))

    return _gen
