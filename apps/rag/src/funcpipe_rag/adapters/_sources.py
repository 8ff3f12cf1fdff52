"""The app's DocumentSource over files (walked by ``_walk``) and URLs (HttpPort).

The key rule (the same tree gets the same keys from any working directory):

- a file under the key base (``--key-base`` / ``FUNCPIPE_KEY_BASE``; by default the folder
  holding the data dir) is keyed by its path relative to the base: ``docs/guide/intro.md``;
- any other file by its path under the home folder, ``~/notes/a.md``, else by its absolute
  path, ``/usr/share/doc/x/README.md`` (no base: every key is of this form);
- ``/`` separates folders; a name that is not valid UTF-8, and ``%`` itself, are
  percent-escaped (``escape_name``), so a key is valid text and maps back to exactly one name;
- a URL is keyed by its normalised form (``normalise_url``).

Two files never share a key: each form is the file's one absolute path, written relative to a
fixed base. Files are read as UTF-8; ``x.md.gz`` is decompressed first, and the size limit
applies to the decompressed text.
"""

from __future__ import annotations

import gzip
import os
import stat
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from funcpipe.adapters.files import FileReader, os_error_info, text_of
from funcpipe.adapters.runtime import run_blocking
from funcpipe.async_plan import AsyncPlan
from funcpipe.ports import HttpPort
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen, close_stream

from funcpipe_rag.domain import (
    SUPPORTED_EXTENSIONS,
    RawSource,
    Stage,
    escape_name,
    is_url,
    kind_of,
    normalise_url,
    path_key,
)

from ._confine import (
    OUTSIDE_ROOT,
    Confine,
    NotRegular,
    OutsideRoot,
    read_gz_inside,
    read_inside,
)
from ._walk import Filters, walk_tree
from .extract import DocRaw, ExtractPool, extractor_for


def _under(path: str, base: str) -> str | None:
    """``path`` relative to ``base`` (both absolute), or ``None`` when it is not under it."""
    if path == base:
        return "."
    head = base.rstrip(os.sep) + os.sep
    return path[len(head) :] if path.startswith(head) else None


def source_key(path: str | os.PathLike[str], base: Path | None, home: Path | None = None) -> str:
    """The source key of a local path by the module's key rule (``home`` defaults to the
    user's home folder; pass it to make the rule independent of the environment)."""
    p = os.path.abspath(path)
    if os.sep != "/":  # keys are /-separated on every OS
        p = p.replace(os.sep, "/")
    if base is not None:
        rel = _under(p, os.path.abspath(base))
        if rel is not None:
            key = path_key(escape_name(rel))
            # A leading "~" would read as the home folder's key: escaped, so keys stay unique.
            return "%7E" + key[1:] if key.startswith("~") else key
    h = os.path.abspath(home if home is not None else Path.home())
    rel = _under(p, h)
    if rel is not None and h != os.sep:
        return "~" if rel == "." else "~/" + path_key(escape_name(rel))
    return path_key(escape_name(p))


def root_key(root: str, base: Path | None, home: Path | None = None) -> str:
    """The key prefix that ``--prune`` uses for a root (a directory, a file or a URL)."""
    return normalise_url(root) if is_url(root) else source_key(root, base, home)


def supported_file(name: str) -> bool:
    """Whether a parser handles the file ``name`` (by extension; ``.gz`` of the text ones;
    the extractors' formats, plug-ins included)."""
    return kind_of(name) is not None or extractor_for(name) is not None


def _read_gz(path: str, limit: int) -> bytes:
    with gzip.open(path, "rb") as f:
        return f.read(limit)


@dataclass(frozen=True, slots=True)
class FileRaw:
    """A file source. Its errors name it by its key (never a server path; the same message
    from the CLI and a server). With ``confine`` (server mode) it is read only through a
    descriptor ``open_inside`` checked (``PERMISSION_DENIED`` when it now leads out of the
    roots)."""

    key: str
    path: Path
    reader: FileReader
    confine: Confine | None = None

    def read(self, max_bytes: int) -> AsyncPlan[str]:
        if self.confine is not None:
            return self._read_inside(self.confine, max_bytes)
        if self.path.name.lower().endswith(".gz"):
            plan = self._read_gz(max_bytes)
        else:
            plan = self.reader.read_text(self.path, max_bytes=max_bytes)
        p, key = str(self.path), self.key

        async def _named() -> Result[str, ErrInfo]:
            got = await plan()
            if isinstance(got, Ok) or not key:
                return got
            e = got.error
            return Err(ErrInfo(e.code, e.msg.replace(p, key), e.stage, e.path, e.cause, e.ctx))

        return _named

    def _read_gz(self, max_bytes: int) -> AsyncPlan[str]:
        p = str(self.path)

        async def _run() -> Result[str, ErrInfo]:
            try:
                data = await run_blocking(partial(_read_gz, p, max_bytes + 1))
            except OSError as exc:
                if isinstance(exc, gzip.BadGzipFile) or exc.errno is None:
                    msg = f"{p}: not a valid gzip file ({exc})"
                    return Err(ErrInfo(codes.DECODE_ERROR, msg, ctx={"path": p}))
                return Err(os_error_info(exc, p))
            except (EOFError, zlib.error) as exc:
                msg = f"{p}: truncated or corrupt gzip data ({exc})"
                return Err(ErrInfo(codes.DECODE_ERROR, msg, ctx={"path": p}))
            return text_of(data, p, max_bytes)

        return _run

    def _read_inside(self, confine: Confine, max_bytes: int) -> AsyncPlan[str]:
        gz = self.path.name.lower().endswith(".gz")
        read = read_gz_inside if gz else read_inside
        shown = self.key or confine.shown(self.path)

        async def _run() -> Result[str, ErrInfo]:
            try:
                data = await run_blocking(partial(read, self.path, confine, max_bytes + 1))
            except OutsideRoot:
                msg = f"{shown}: leads outside the allowed roots; not read"
                return Err(ErrInfo(codes.PERMISSION_DENIED, msg, ctx={"path": shown}))
            except NotRegular:
                msg = f"{shown}: not a regular file"
                return Err(ErrInfo(codes.INVALID_INPUT, msg, ctx={"path": shown}))
            except OSError as exc:
                if gz and (isinstance(exc, gzip.BadGzipFile) or exc.errno is None):
                    msg = f"{shown}: not a valid gzip file ({exc})"
                    return Err(ErrInfo(codes.DECODE_ERROR, msg, ctx={"path": shown}))
                return Err(os_error_info(exc, shown))
            except (EOFError, zlib.error) as exc:
                msg = f"{shown}: truncated or corrupt gzip data ({exc})"
                return Err(ErrInfo(codes.DECODE_ERROR, msg, ctx={"path": shown}))
            return text_of(data, shown, max_bytes)

        return _run


def file_source(
    key: str,
    path: Path,
    reader: FileReader | None = None,
    pool: Callable[[], ExtractPool] | None = None,
    confine: Confine | None = None,
) -> RawSource:
    """A file's source: extracted (PDF, DOCX, plug-ins; in ``pool()``, by default in threads
    of this process, as a Dask worker does) or read as text (with ``confine``: through a
    checked descriptor; an extractor opens its file by path, so only the walk confines it)."""
    ex = None if path.name.lower().endswith(".gz") else extractor_for(path.name)
    if ex is not None:
        return DocRaw(key, path, ex, pool() if pool is not None else ExtractPool(0))
    return FileRaw(key, path, reader or FileReader(), confine)


@dataclass(frozen=True, slots=True)
class UrlRaw:
    key: str
    url: str
    http: HttpPort | None

    def read(self, max_bytes: int) -> AsyncPlan[str]:
        if self.http is None:

            async def _none() -> Result[str, ErrInfo]:
                return Err(
                    ErrInfo(codes.UNSUPPORTED, "no HTTP client configured", path=(self.key,))
                )

            return _none
        return self.http.get_text(self.url, max_bytes=max_bytes)


class RootsSource:
    """Every supported file under the given roots (walked by ``_walk``'s rules) and URLs.

    A file named explicitly as a root with an extension no parser handles is
    ``Err(UNSUPPORTED)`` (never skipped). With ``confine`` (server mode) nothing outside the
    roots is opened: a root or link leading out is skipped and counted as ``(outside root)``
    (``_confine``), and files are read through checked descriptors. Files skipped by the walk
    are counted in ``skipped`` (by extension, ``(second link)``, ``(outside root)``).
    Errors carry the source key in ``path[0]``.
    """

    def __init__(
        self,
        roots: Sequence[str],
        *,
        base: Path | None,
        http: HttpPort | None = None,
        filters: Filters | None = None,
        home: Path | None = None,
        pool: ExtractPool | None = None,
        confine: Confine | None = None,
    ) -> None:
        self.roots = tuple(roots)
        self.base = base
        self.http = http
        self.filters = filters or Filters()
        self.home = home
        self.confine = confine
        self.skipped: Counter[str] = Counter()
        # Reads started together share one executor hop: a hop costs more than a small file.
        self.reader = FileReader()
        self._pool = pool  # binary documents' extraction workers (made on first use)

    @property
    def pool(self) -> ExtractPool:
        """The extraction pool (``--jobs``; by default one worker per core, made lazily)."""
        if self._pool is None:
            self._pool = ExtractPool()
        return self._pool

    def close(self) -> None:
        """End the extraction workers, if any were started."""
        if self._pool is not None:
            self._pool.close()

    def _file(self, key: str, path: Path) -> RawSource:
        return file_source(key, path, self.reader, lambda: self.pool, self.confine)

    def root_keys(self) -> tuple[str, ...]:
        return tuple(root_key(r, self.base, self.home) for r in self.roots)

    def _key(self, path: str | os.PathLike[str]) -> str:
        return source_key(path, self.base, self.home)

    def _walk(self, root: str) -> AsyncGen[RawSource]:
        root_abs = Path(os.path.abspath(root))
        prefix = self._key(root_abs)

        def key_of(rel: str) -> str:
            return f"{prefix}/{escape_name(rel)}" if prefix else escape_name(rel)

        walked = walk_tree(root_abs, supported_file, self.filters, self.skipped, self.confine)
        confine = self.confine
        shown = confine.shown(root_abs) if confine is not None else str(root_abs)

        async def _gen() -> AsyncIterator[Result[RawSource, ErrInfo]]:
            try:
                st = await run_blocking(partial(os.stat, root_abs))
            except OSError as exc:
                e = os_error_info(exc, shown)
                yield Err(ErrInfo(e.code, e.msg, Stage.READ, (prefix,), e.cause, e.ctx))
                return
            if confine is not None:
                real = await run_blocking(partial(os.path.realpath, root_abs))
                if not confine.holds(real):
                    self.skipped[OUTSIDE_ROOT] += 1
                    return
            if stat.S_ISREG(st.st_mode):
                if not supported_file(root_abs.name):
                    msg = (
                        f"{shown}: no parser for this file type "
                        f"(supported: {', '.join(sorted(SUPPORTED_EXTENSIONS))} and .gz of them)"
                    )
                    yield Err(ErrInfo(codes.UNSUPPORTED, msg, Stage.READ, (prefix,)))
                else:
                    yield Ok(self._file(prefix, root_abs))
                return
            if not stat.S_ISDIR(st.st_mode):
                msg = f"{shown}: not a file or folder"
                yield Err(ErrInfo(codes.INVALID_INPUT, msg, Stage.READ, (prefix,)))
                return
            it = walked()
            try:
                async for item in it:
                    if isinstance(item, Ok):
                        found = item.value
                        yield Ok(self._file(key_of(found.rel), found.path))
                        continue
                    e = item.error
                    rel = str(e.path[0]) if e.path else ""
                    key = key_of(rel) if rel and rel != "." else prefix
                    yield Err(ErrInfo(e.code, e.msg, Stage.READ, (key,), e.cause, e.ctx))
            finally:
                await close_stream(it)

        return _gen

    def sources(self) -> AsyncGen[RawSource]:
        async def _gen() -> AsyncIterator[Result[RawSource, ErrInfo]]:
            for root in self.roots:
                if is_url(root):
                    url = normalise_url(root)
                    yield Ok(UrlRaw(url, url, self.http))
                    continue
                it = self._walk(root)()
                try:
                    async for item in it:
                        yield item
                finally:
                    await close_stream(it)

        return _gen
