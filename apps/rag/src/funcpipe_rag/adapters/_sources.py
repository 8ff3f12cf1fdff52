"""The app's DocumentSource over files (walk_files + read_text) and URLs (an HttpPort)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from funcpipe.adapters.files import FileReader, FileRef, walk_files
from funcpipe.async_plan import AsyncPlan
from funcpipe.ports import HttpPort
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen

from funcpipe_rag.domain import RawSource, escape_name, is_url, normalise_url, path_key


def source_key(path: str | os.PathLike[str], base: Path) -> str:
    """The source key of a local path: relative to ``base``, forward slashes; a name that is
    not UTF-8 is percent-escaped (``escape_name``), so every key is valid text and reversible."""
    return path_key(escape_name(os.path.relpath(os.path.abspath(path), base)))


def root_key(root: str, base: Path) -> str:
    """The key prefix that ``--prune`` uses for a root (a directory, a file or a URL)."""
    return normalise_url(root) if is_url(root) else source_key(root, base)


@dataclass(frozen=True, slots=True)
class FileRaw:
    key: str
    path: Path
    reader: FileReader

    def read(self, max_bytes: int) -> AsyncPlan[str]:
        return self.reader.read_text(self.path, max_bytes=max_bytes)


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
    """Every file under the given roots (recursively, sorted, symlink-loop safe) and URLs.

    Hidden files and directories below a root (a name starting with ``.``, e.g. ``.git`` or
    the data dir) are pruned by the walk, never descended into. Errors of the walk carry the
    file's source key in ``path[0]``.
    """

    def __init__(self, roots: Sequence[str], *, base: Path, http: HttpPort | None = None) -> None:
        self._roots = tuple(roots)
        self._base = base
        self._http = http
        # Reads started together (the read op runs them with bounded concurrency) share one
        # executor hop: a hop costs more than reading a small file.
        self._reader = FileReader()

    def root_keys(self) -> tuple[str, ...]:
        return tuple(root_key(r, self._base) for r in self._roots)

    def _walk(self, root: str) -> AsyncGen[RawSource]:
        base, reader = self._base, self._reader
        walked = walk_files(root, skip_hidden=True)
        root_abs = Path(os.path.abspath(root))
        prefix = source_key(root_abs, base)

        def key_of(ref: FileRef) -> str:
            # == source_key(ref.path, base), without a relpath per file
            if ref.path == root_abs:
                return prefix
            key = escape_name(ref.key)
            return f"{prefix}/{key}" if prefix else key

        async def _gen() -> AsyncIterator[Result[RawSource, ErrInfo]]:
            it = walked()
            try:
                async for item in it:
                    if isinstance(item, Ok):
                        yield Ok(FileRaw(key_of(item.value), item.value.path, reader))
                        continue
                    e = item.error
                    where = e.ctx.get("path")
                    key = (
                        source_key(where, base)
                        if isinstance(where, str) and where
                        else source_key(root, base)
                    )
                    yield Err(ErrInfo(e.code, e.msg, "read", (key,), e.cause, e.ctx))
            finally:
                aclose = getattr(it, "aclose", None)
                if aclose is not None:
                    await aclose()

        return _gen

    def sources(self) -> AsyncGen[RawSource]:
        roots, http = self._roots, self._http

        async def _gen() -> AsyncIterator[Result[RawSource, ErrInfo]]:
            for root in roots:
                if is_url(root):
                    yield Ok(UrlRaw(normalise_url(root), root, http))
                    continue
                it = self._walk(root)()
                try:
                    async for item in it:
                        yield item
                finally:
                    aclose = getattr(it, "aclose", None)
                    if aclose is not None:
                        await aclose()

        return _gen
