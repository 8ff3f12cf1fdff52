"""Collection management: list and drop collections, stats, committed sources, delete sources.

Two layers: functions over an already-open ``StoreIndex`` (a long-lived server reuses them on
its open store) and settings-level wrappers (``run_*``) that open only the store (no embedder
is loaded). Every result is a frozen dataclass whose ``to_json()`` is what ``--json`` prints.

Error codes: a collection that does not exist -> ``NOT_FOUND`` (stage ``config``: a wrong
``--collection`` / ``--data-dir``, exit 2); store failures keep their code (stage ``store``).
Cancellation: the plans hold no state of their own; a delete cut short leaves sources the next
``delete`` or ``verify --repair`` finishes (the protocol: chunks first, marker last).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from funcpipe_rag.adapters import StoreIndex
from funcpipe_rag.domain import Stage
from funcpipe_rag.pipelines import (
    DEFAULT_SETTINGS,
    SourceError,
    delete_sources,
    not_found,
)

from ._backends import open_index
from ._settings import Settings

STAGE = "store"


@dataclass(frozen=True, slots=True)
class CollectionEntry:
    """One collection: its name, points (chunks and markers), committed sources, embedder."""

    name: str
    points: int
    sources: int
    embedder: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "points": self.points,
            "sources": self.sources,
            "embedder": self.embedder,
        }


@dataclass(frozen=True, slots=True)
class CollectionStats:
    """A collection's figures: every point, chunk points, committed sources, the embedder
    identity (``model@dim``) and chunking it is stamped with, the spec hashes its sources were
    written by (sorted), its size on disk (``None`` for a server), and the search config its
    stamp records (``None`` without a stamp)."""

    collection: str
    points: int
    chunks: int
    sources: int
    embedder: str | None
    chunk_chars: int | None
    chunk_overlap: int | None
    spec_hashes: tuple[str, ...]
    disk_bytes: int | None
    search: dict[str, object] | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "collection": self.collection,
            "points": self.points,
            "chunks": self.chunks,
            "sources": self.sources,
            "embedder": self.embedder,
            "chunk_chars": self.chunk_chars,
            "chunk_overlap": self.chunk_overlap,
            "spec_hashes": list(self.spec_hashes),
            "disk_bytes": self.disk_bytes,
            "search": self.search,
        }


@dataclass(frozen=True, slots=True)
class SourceEntry:
    """One committed source: its key, document version, chunk count and spec hash."""

    source: str
    version: str
    chunks: int
    spec_hash: str

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "version": self.version,
            "chunks": self.chunks,
            "spec_hash": self.spec_hash,
        }


@dataclass(frozen=True, slots=True)
class DeleteReport:
    """What a delete removed: the sources (sorted), their chunk points, and per source or
    pattern what failed (``NOT_FOUND`` for a pattern that matched nothing)."""

    deleted: tuple[str, ...]
    chunks_deleted: int
    errors: tuple[SourceError, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "deleted": list(self.deleted),
            "chunks_deleted": self.chunks_deleted,
            "errors": [{"source": e.source, "code": e.code, "msg": e.msg} for e in self.errors],
        }


@dataclass(frozen=True, slots=True)
class DropReport:
    """Whether ``collection`` existed (and is now gone)."""

    collection: str
    dropped: bool

    def to_json(self) -> dict[str, object]:
        return {"collection": self.collection, "dropped": self.dropped}


def _store_err(e: ErrInfo) -> Err[ErrInfo]:
    return Err(ErrInfo(e.code, e.msg, STAGE, e.path, e.cause, e.ctx))


def missing_collection(name: str) -> Err[ErrInfo]:
    """``NOT_FOUND`` for a collection that does not exist (a configuration error)."""
    msg = f"collection {name!r} does not exist (see: funcpipe-rag collections)"
    return Err(ErrInfo(codes.NOT_FOUND, msg, stage=Stage.CONFIG, ctx={"collection": name}))


def dir_bytes(path: Path) -> int:
    """Bytes on disk (allocated blocks: the store's files are sparse) of every file under
    ``path`` (0 when it is missing); links are not followed."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                st = os.lstat(os.path.join(root, f))
            except OSError:
                continue
            total += getattr(st, "st_blocks", 0) * 512 or st.st_size
    return total


def store_dir(settings: Settings, collection: str) -> Path | None:
    """Where a local store keeps ``collection`` on disk; ``None`` for a Qdrant server."""
    if settings.qdrant_url:
        return None
    if settings.qdrant_path:
        return settings.qdrant_path / "collection" / collection
    return settings.data_dir / "edge" / collection


async def list_collections(index: StoreIndex) -> Result[list[CollectionEntry], ErrInfo]:
    """Every collection of the store under ``index``, sorted by name, with its figures."""
    names = await index.store.list_collections()()
    if isinstance(names, Err):
        return _store_err(names.error)
    out: list[CollectionEntry] = []
    for name in names.value:
        one = index.on(name)
        points = await one.count()()
        if isinstance(points, Err):
            return _store_err(points.error)
        sources = await one.count_commits()()
        if isinstance(sources, Err):
            return _store_err(sources.error)
        info = await one.info()()
        if isinstance(info, Err):
            return _store_err(info.error)
        stamp = info.value.stamp if info.value else None
        out.append(
            CollectionEntry(
                name, points.value, sources.value, str(stamp.embedder) if stamp else None
            )
        )
    return Ok(out)


async def drop_collection(index: StoreIndex, name: str) -> Result[DropReport, ErrInfo]:
    """Delete collection ``name`` with every point (idempotent: ``dropped`` says whether it
    existed). A bad name -> ``INVALID_INPUT`` (stage ``config``)."""
    got = await index.store.drop_collection(name)()
    if isinstance(got, Err):
        e = got.error
        stage = "config" if e.code == codes.INVALID_INPUT else STAGE
        return Err(ErrInfo(e.code, e.msg, stage, e.path, e.cause, e.ctx))
    return Ok(DropReport(name, got.value))


async def collection_stats(
    index: StoreIndex, disk: Path | None = None
) -> Result[CollectionStats, ErrInfo]:
    """The figures of ``index``'s collection; ``disk`` is its directory (``store_dir``), whose
    size is reported. Missing collection -> ``NOT_FOUND``."""
    info = await index.info()()
    if isinstance(info, Err):
        return _store_err(info.error)
    if info.value is None:
        return missing_collection(index.collection)
    points = await index.count()()
    if isinstance(points, Err):
        return _store_err(points.error)
    chunks = await index.count_chunks()()
    if isinstance(chunks, Err):
        return _store_err(chunks.error)
    commits = await index.commits()()
    if isinstance(commits, Err):
        return _store_err(commits.error)
    stamp = info.value.stamp
    hashes = tuple(sorted({c.spec_hash for c in commits.value}))
    n = len(commits.value)
    return Ok(
        CollectionStats(
            index.collection,
            points.value,
            chunks.value,
            n,
            str(stamp.embedder) if stamp else None,
            stamp.chunking.max_chars if stamp else None,
            stamp.chunking.overlap if stamp else None,
            hashes,
            dir_bytes(disk) if disk is not None else None,
            stamp.search.to_data() if stamp else None,
        )
    )


async def list_sources(index: StoreIndex) -> Result[list[SourceEntry], ErrInfo]:
    """Every committed source of ``index``'s collection, sorted by key. Missing collection ->
    ``NOT_FOUND``."""
    info = await index.info()()
    if isinstance(info, Err):
        return _store_err(info.error)
    if info.value is None:
        return missing_collection(index.collection)
    commits = await index.commits()()
    if isinstance(commits, Err):
        return _store_err(commits.error)
    entries = [
        SourceEntry(c.source, c.doc_version, c.chunk_count, c.spec_hash) for c in commits.value
    ]
    return Ok(sorted(entries, key=lambda e: e.source))


async def remove_sources(
    index: StoreIndex, patterns: Sequence[str], *, exact: bool = False, dry_run: bool = False
) -> Result[DeleteReport, ErrInfo]:
    """Delete the stored sources named by ``patterns`` (keys, or globs over keys: ``*``, ``?``,
    ``[``; with ``exact`` keys only) by the ingestion protocol; a source with chunks but no
    marker (a delete or ingest cut short) is matched too, so a re-run converges. A pattern that
    matches nothing is listed as ``NOT_FOUND``; missing collection -> ``NOT_FOUND``.
    ``dry_run``: the report of what would be deleted; nothing changes."""
    if not patterns:
        msg = "name at least one SOURCE (a key or a glob; see: funcpipe-rag sources)"
        return Err(ErrInfo(codes.INVALID_INPUT, msg, stage=Stage.USAGE))
    info = await index.info()()
    if isinstance(info, Err):
        return _store_err(info.error)
    if info.value is None:
        return missing_collection(index.collection)
    settings = DEFAULT_SETTINGS
    done = await delete_sources(
        index,
        patterns,
        store_calls=settings.store_calls(),
        batch=settings.upsert_batch,
        dry_run=dry_run,
        exact=exact,
    )()
    if isinstance(done, Err):
        return done
    d = done.value
    errors = (*d.errors, *(not_found(p) for p in d.unmatched))
    return Ok(
        DeleteReport(
            tuple(o.source for o in d.outcomes), sum(o.deleted for o in d.outcomes), errors
        )
    )


# -- settings-level wrappers: open the store only (no embedder), run one call, close ----------


async def run_collections(settings: Settings) -> Result[list[CollectionEntry], ErrInfo]:
    """``list_collections`` on the configured store."""
    async with open_index(settings, "funcpipe") as opened:
        if isinstance(opened, Err):
            return opened
        return await list_collections(opened.value)


async def run_drop(settings: Settings, name: str) -> Result[DropReport, ErrInfo]:
    """``drop_collection`` on the configured store."""
    async with open_index(settings, name) as opened:
        if isinstance(opened, Err):
            return opened
        return await drop_collection(opened.value, name)


async def run_stats(settings: Settings, collection: str) -> Result[CollectionStats, ErrInfo]:
    """``collection_stats`` of ``collection`` on the configured store."""
    async with open_index(settings, collection) as opened:
        if isinstance(opened, Err):
            return opened
        return await collection_stats(opened.value, store_dir(settings, collection))


async def run_sources(settings: Settings, collection: str) -> Result[list[SourceEntry], ErrInfo]:
    """``list_sources`` of ``collection`` on the configured store."""
    async with open_index(settings, collection) as opened:
        if isinstance(opened, Err):
            return opened
        return await list_sources(opened.value)


async def run_delete(
    settings: Settings,
    collection: str,
    patterns: Sequence[str],
    *,
    exact: bool = False,
    dry_run: bool = False,
) -> Result[DeleteReport, ErrInfo]:
    """``remove_sources`` in ``collection`` on the configured store."""
    async with open_index(settings, collection) as opened:
        if isinstance(opened, Err):
            return opened
        return await remove_sources(opened.value, patterns, exact=exact, dry_run=dry_run)
