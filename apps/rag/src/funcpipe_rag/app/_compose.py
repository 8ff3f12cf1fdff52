"""The composition root: settings -> adapters -> pipelines. The only place that picks backends.

Embedded defaults: Qdrant Edge under the data dir and the static embedder (no server, no
network). ``qdrant_url`` switches to a Qdrant server through qdrant-client; ``embed_url`` to an
OpenAI-compatible embeddings endpoint.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from funcpipe.adapters.vectors import VectorStore
from funcpipe.async_plan import async_with_retry
from funcpipe.policies import RetryPolicy
from funcpipe.ports import HttpPort
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen

from funcpipe_rag.adapters import Confine, EmbedderPort, Filters, RootsSource, StoreIndex
from funcpipe_rag.domain import (
    NO_SPACE,
    READ_MARGIN,
    WRITE_MARGIN,
    Room,
    SearchHit,
    SearchOptions,
    VerifyReport,
    is_url,
)
from funcpipe_rag.pipelines import (
    DEFAULT_COLLECTION,
    DEFAULT_SETTINGS,
    IngestEvent,
    IngestReport,
    IngestRequest,
    IngestSettings,
    Outcome,
    Phase,
    Walked,
    fold_events,
    search,
    verify,
)
from funcpipe_rag.pipelines import ingest_events as pipeline_events

from ._cluster import Cluster, remote_for
from ._settings import Settings
from ._stores import open_store

_STATIC: dict[int, EmbedderPort] = {}

PROBE_RETRY = RetryPolicy(max_attempts=3, backoff_base_ms=200, max_backoff_ms=2_000)
"""Learning a remote embedder's dimension (when FUNCPIPE_EMBED_DIM is not set) is retried."""

OPTIMIZE_THRESHOLD = 20_000
"""Unindexed points after which ingest builds the store's ANN index."""


def static_embedder(dim: int = 256) -> EmbedderPort:
    """The offline static embedder, loaded once per process.

    It embeds on one thread of its own (idle between calls, for the life of the process):
    concurrent batches queue there instead of running side by side on the loop's pool. That
    is as fast on this CPU-bound model, and its large temporary arrays then stay in one
    allocator arena: the ingest's peak RSS is ~80 MiB lower and no longer depends on which
    pool threads happened to embed.
    """
    if dim not in _STATIC:
        from funcpipe.adapters.embed import StaticEmbedder
        from funcpipe.adapters.runtime import dedicated_executor

        _STATIC[dim] = EmbedderPort(
            StaticEmbedder(dim=dim, executor=dedicated_executor("funcpipe-embed"))
        )
    return _STATIC[dim]


def collection_for(settings: Settings, spec: IngestSettings | None = None) -> str:
    """flag/env > spec > default."""
    return settings.collection or (spec.collection if spec else None) or DEFAULT_COLLECTION


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
        return Err(ErrInfo(NO_SPACE, msg, stage="store", ctx={"free": free, "needed": n}))

    return room


def _local(settings: Settings) -> bool:
    return not settings.qdrant_url


@dataclass(frozen=True, slots=True)
class Backends:
    index: StoreIndex
    embedder: EmbedderPort
    http: HttpPort | None


def _config_err(msg: str) -> Err[ErrInfo]:
    return Err(ErrInfo(codes.INVALID_INPUT, msg, stage="config"))


@asynccontextmanager
async def open_backends(
    settings: Settings,
    collection: str,
    *,
    embedder: EmbedderPort | None = None,
    need_http: bool = False,
    free_bytes: FreeBytes = disk_free,
) -> AsyncIterator[Result[Backends, ErrInfo]]:
    """Open the store, the embedder and (when needed) the HTTP client; close all on exit.

    ``embedder`` overrides the configured one (tests, benchmarks). The HTTP client exists
    when ``need_http`` (URL sources) or a remote embedder is configured. A local store is
    opened only with ``READ_MARGIN`` free bytes under its directory (``Err(NO_SPACE)``).
    """
    async with AsyncExitStack() as stack:
        http: HttpPort | None = None
        if need_http or (settings.embed_url and embedder is None):
            # httpx (and the CLI tools it pulls in) load only when HTTP is used.
            import httpx
            from funcpipe.adapters.http import HttpClient, OpenAIEmbeddings

            client = await stack.enter_async_context(httpx.AsyncClient(follow_redirects=True))
            http = HttpClient(client)
        if embedder is not None:
            pass
        elif settings.embed_url:
            if not settings.embed_model:
                yield _config_err("FUNCPIPE_EMBED_URL is set but FUNCPIPE_EMBED_MODEL is not")
                return
            key = settings.embed_api_key.get_secret_value() if settings.embed_api_key else None
            assert http is not None
            remote = OpenAIEmbeddings(
                client,
                base_url=settings.embed_url,
                model=settings.embed_model,
                api_key=key,
                dimensions=settings.embed_dim,
            )
            if not remote.dimension:
                probe = async_with_retry(remote.probe_dimension(), PROBE_RETRY)
                probed = await probe()
                if isinstance(probed, Err):
                    e = probed.error
                    yield Err(
                        ErrInfo(
                            e.code,
                            f"embedder at {remote.url}: {e.msg}",
                            "embed",
                            e.path,
                            e.cause,
                            e.ctx,
                        )
                    )
                    return
            embedder = EmbedderPort(remote)
        else:
            embedder = static_embedder(settings.embed_dim or 256)
        assert embedder is not None
        if _local(settings):
            where = settings.qdrant_path or settings.data_dir
            roomy = room_under(where, free_bytes, READ_MARGIN)(0)
            if isinstance(roomy, Err):
                yield roomy
                return
        opened = await open_store(settings)
        if isinstance(opened, Err):
            yield opened
            return
        store = opened.value
        stack.push_async_callback(_close, store)
        index = StoreIndex(store, collection)
        yield Ok(Backends(index, embedder, http))


async def _close(store: VectorStore) -> None:
    await store.close()()


def key_base_of(settings: Settings) -> Path | None:
    """Source keys are relative to ``--key-base`` / ``FUNCPIPE_KEY_BASE``, else to the folder
    holding a local store's data dir; a Qdrant server without a key base: no base (keys are
    ``~/...`` or absolute paths)."""
    if settings.key_base is not None:
        return settings.key_base.absolute()
    if settings.qdrant_url:
        return None
    return (settings.qdrant_path or settings.data_dir).absolute().parent


async def _count(source: RootsSource) -> Walked:
    total = 0
    async for item in source.sources()():
        total += 1 if isinstance(item, Ok) else 0
    return Walked(total, tuple(sorted(source.skipped.items())))


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
        source = RootsSource(roots, base=base, http=b.http, filters=filters, confine=confine)
        request = IngestRequest(
            source, source.root_keys(), prune=prune, dry_run=dry_run, collection=b.index.collection
        )
        where = settings.qdrant_path or settings.data_dir
        room = room_under(where, free_bytes) if _local(settings) else None
        upserted = 0
        counted = False
        async with AsyncExitStack() as stack:
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
                    counting = RootsSource(roots, base=base, filters=filters, confine=confine)
                    yield Ok(await _count(counting))
                if isinstance(item, Ok) and isinstance(item.value, Outcome):
                    upserted += item.value.upserted
                yield item
                if isinstance(item, Err):
                    return
        if not dry_run and upserted:
            yield Ok(Phase("index"))
            await b.index.optimize_if_needed(OPTIMIZE_THRESHOLD)()

    return _gen


async def run_ingest(
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
) -> Result[IngestReport, ErrInfo]:
    """Ingest ``roots`` (paths or URLs) by ``spec``: the fold of ``ingest_events``.

    Source keys follow the key rule with ``base`` (see ``ingest_events``). A local store's
    free space is checked before each write (``free_bytes``)."""
    events = ingest_events(
        settings,
        spec,
        roots,
        prune=prune,
        dry_run=dry_run,
        base=base,
        embedder=embedder,
        free_bytes=free_bytes,
        filters=filters,
        cluster=cluster,
    )
    return await fold_events(events, keep_outcomes=dry_run)()


async def run_search(
    settings: Settings,
    query: str,
    options: SearchOptions | int,
    *,
    embedder: EmbedderPort | None = None,
    free_bytes: FreeBytes = disk_free,
) -> Result[list[SearchHit], ErrInfo]:
    """The best chunks for ``query`` (``pipelines.search``; an int is ``k``)."""
    async with open_backends(
        settings,
        collection_for(settings, DEFAULT_SETTINGS),
        embedder=embedder,
        free_bytes=free_bytes,
    ) as opened:
        if isinstance(opened, Err):
            return opened
        b = opened.value
        return await search(b.index, b.embedder, query, options, b.index.collection)()


async def run_verify(
    settings: Settings,
    *,
    repair: bool,
    embedder: EmbedderPort | None = None,
    free_bytes: FreeBytes = disk_free,
) -> Result[tuple[VerifyReport, VerifyReport | None], ErrInfo]:
    """Check (and with ``repair`` restore) the store's invariants."""
    async with open_backends(
        settings,
        collection_for(settings, DEFAULT_SETTINGS),
        embedder=embedder,
        free_bytes=free_bytes,
    ) as opened:
        if isinstance(opened, Err):
            return opened
        return await verify(opened.value.index, repair=repair)()
