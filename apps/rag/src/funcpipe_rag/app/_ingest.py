"""The ingest use case: roots (paths or URLs) -> the ingest pipeline over the open backends,
as a stream of events or its report."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, Unpack

from funcpipe.result import Err, ErrInfo, Ok, Result
from funcpipe.streams import AsyncGen, async_gen_from_results

from funcpipe_rag.adapters import Confine, EmbedderPort, Filters, RootsSource
from funcpipe_rag.adapters.extract import ExtractPool
from funcpipe_rag.domain import RawSource, is_url
from funcpipe_rag.pipelines import (
    IngestEvent,
    IngestReport,
    IngestRequest,
    IngestSettings,
    Outcome,
    Phase,
    Walked,
    fold_events,
)
from funcpipe_rag.pipelines import ingest_events as pipeline_events

from ._backends import Backends, open_backends, remote_for
from ._cluster import Cluster
from ._settings import Settings, collection_for
from ._space import FreeBytes, disk_free, room_under

OPTIMIZE_THRESHOLD = 20_000
"""Unindexed points after which ingest builds the store's ANN index."""


def key_base_of(settings: Settings) -> Path | None:
    """Source keys are relative to ``--key-base`` / ``FUNCPIPE_KEY_BASE``, else to the folder
    holding a local store's data dir; a Qdrant server without a key base: no base (keys are
    ``~/...`` or absolute paths)."""
    if settings.key_base is not None:
        return settings.key_base.absolute()
    if settings.qdrant_url:
        return None
    return (settings.qdrant_path or settings.data_dir).absolute().parent


@dataclass(frozen=True, slots=True)
class WalkOnce:
    """The run's one walk of its roots: what it found (sources and walk errors, in walk order)
    and what it skipped; the pipeline replays it and the progress total comes from it."""

    found: tuple[Result[RawSource, ErrInfo], ...]
    skipped: tuple[tuple[str, int], ...]

    def sources(self) -> AsyncGen[RawSource]:
        return async_gen_from_results(self.found)

    def event(self) -> Walked:
        return Walked(sum(1 for r in self.found if isinstance(r, Ok)), self.skipped)


async def walk_once(source: RootsSource) -> WalkOnce:
    """Walk ``source``'s roots once (the listing runs off the event loop)."""
    found = tuple([item async for item in source.sources()()])
    return WalkOnce(found, tuple(sorted(source.skipped.items())))


def ingest_events(
    settings: Settings,
    spec: IngestSettings,
    roots: Sequence[str],
    *,
    prune: bool = False,
    dry_run: bool = False,
    base: Path | None = None,
    embedder: EmbedderPort | None = None,
    free_bytes: FreeBytes = disk_free,
    filters: Filters | None = None,
    cluster: Cluster | None = None,
    confine: Confine | None = None,
) -> AsyncGen[IngestEvent]:
    """The ingest of ``roots`` (paths or URLs) by ``spec`` as a stream of events: ``Walked``
    (the sources counted, the files skipped), phases, per source an outcome or an error; a
    final ``Err`` when the run cannot start or fails.

    Source keys follow the key rule (``adapters._sources``) with ``base`` (default
    ``key_base_of(settings)``); ``filters`` are the ``--include`` / ``--exclude`` patterns. The
    backends are open while the stream is drained. A local store's free space is checked
    before each write (``free_bytes``). ``cluster``: run on Dask (``open_remote``); without
    the ``[dask]`` extra that is ``Err(MISSING_EXTRA)``. ``confine``: open nothing outside
    these roots (``--no-links-out``; on Dask the walk is confined, workers read by path)."""

    key_base = base.absolute() if base is not None else key_base_of(settings)

    async def _gen() -> AsyncIterator[Result[IngestEvent, ErrInfo]]:
        checked = (filters or Filters()).check()
        if isinstance(checked, Err):
            yield checked
            return
        urls = any(is_url(r) for r in roots)
        collection = collection_for(settings, spec)
        async with open_backends(
            settings, collection, embedder=embedder, need_http=urls, free_bytes=free_bytes
        ) as opened:
            if isinstance(opened, Err):
                yield opened
                return
            events = events_on(
                opened.value,
                settings,
                spec,
                roots,
                prune=prune,
                dry_run=dry_run,
                base=key_base,
                free_bytes=free_bytes,
                cluster=cluster,
                filters=filters,
                confine=confine,
            )
            async for item in events():
                yield item

    return _gen


def events_on(
    b: Backends,
    settings: Settings,
    spec: IngestSettings,
    roots: Sequence[str],
    *,
    prune: bool = False,
    dry_run: bool = False,
    base: Path | None,
    free_bytes: FreeBytes = disk_free,
    cluster: Cluster | None = None,
    filters: Filters | None = None,
    confine: Confine | None = None,
) -> AsyncGen[IngestEvent]:
    """``ingest_events`` on backends already open (a long-lived process's); keys by the key
    rule with ``base``; ``filters``: ``--include`` / ``--exclude``. Ends after the first
    ``Err`` item. Builds the ANN index when points were written.
    ``cluster``: run on Dask (the command stays the store's one writer). ``confine``: read
    nothing outside these roots (server mode; see ``adapters._confine``)."""

    async def _gen() -> AsyncIterator[Result[IngestEvent, ErrInfo]]:
        where = settings.qdrant_path or settings.data_dir
        room = None if settings.qdrant_url else room_under(where, free_bytes)
        upserted = 0
        counted = False
        async with AsyncExitStack() as stack:
            pool = ExtractPool(settings.jobs)  # PDF/DOCX extraction processes (--jobs)
            stack.callback(pool.close)
            source = RootsSource(
                roots, base=base, http=b.http, filters=filters, pool=pool, confine=confine
            )
            walked = await walk_once(source)  # the run's one walk: its sources and their total
            request = IngestRequest(
                walked,
                source.root_keys(),
                prune=prune,
                dry_run=dry_run,
                collection=b.index.collection,
            )
            remote = None
            if cluster is not None:
                opened_remote = await stack.enter_async_context(
                    remote_for(cluster, spec, b.embedder.identity)
                )
                if isinstance(opened_remote, Err):
                    yield opened_remote
                    return
                remote = opened_remote.value
            events = pipeline_events(spec, b.index, b.embedder, request, room=room, remote=remote)
            async for item in events():
                if not counted and isinstance(item, Ok):  # the run started: count the sources
                    counted = True
                    yield Ok(Phase("walk"))
                    yield Ok(walked.event())
                if isinstance(item, Ok) and isinstance(item.value, Outcome):
                    upserted += item.value.upserted
                yield item
                if isinstance(item, Err):
                    return
        if not dry_run and upserted:
            yield Ok(Phase("index"))
            await b.index.optimize_if_needed(OPTIMIZE_THRESHOLD)()

    return _gen


class IngestOptions(TypedDict, total=False):
    """``ingest_events``' keyword options, for the functions that pass them on."""

    prune: bool
    dry_run: bool
    base: Path | None
    embedder: EmbedderPort | None
    free_bytes: FreeBytes
    filters: Filters | None
    cluster: Cluster | None


async def run_ingest(
    settings: Settings,
    spec: IngestSettings,
    roots: Sequence[str],
    **options: Unpack[IngestOptions],
) -> Result[IngestReport, ErrInfo]:
    """Ingest ``roots`` (paths or URLs) by ``spec``: the fold of ``ingest_events`` (the same
    options). Source keys follow the key rule with ``base``; a local store's free space is
    checked before each write (``free_bytes``)."""
    events = ingest_events(settings, spec, roots, **options)
    return await fold_events(events, keep_outcomes=options.get("dry_run", False))()
