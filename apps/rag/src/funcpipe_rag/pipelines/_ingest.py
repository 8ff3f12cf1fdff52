"""The ingest description: the spec's pipeline over the sources, then pruning, as a stream of
events; the report is a fold of the stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TypedDict, TypeVar, Unpack

from funcpipe.async_plan import AsyncPlan
from funcpipe.policies import ResilienceEnv, Sleeper
from funcpipe.result import Err, ErrInfo, Ok, Result
from funcpipe.specs import StageEnv
from funcpipe.streams import AsyncGen, close_stream

from funcpipe_rag.domain import (
    CollectionStamp,
    DocumentSource,
    Embedder,
    Room,
    Stage,
    SyncContext,
    VectorIndex,
    identity_mismatch,
    stamp_conflict,
)

from ._compose import describe_ingest, describe_prepared
from ._prune import RunLog, prune_phase
from ._session import EmptyIndex, Opened, RunConfig, StoreSession
from ._settings import IngestSettings
from ._shards import Remote, remote_sources
from ._types import (
    Halt,
    IngestEvent,
    IngestReport,
    Outcome,
    Phase,
    source_error,
)


@dataclass(frozen=True, slots=True)
class IngestRequest:
    """What to ingest: the sources, the roots they came from (for ``prune``), the flags."""

    source: DocumentSource
    roots: tuple[str, ...]
    prune: bool = False
    dry_run: bool = False
    collection: str = "funcpipe"


def _store_err(err: ErrInfo, what: str) -> Err[ErrInfo]:
    return Err(ErrInfo(err.code, f"{what}: {err.msg}", Stage.STORE, err.path, err.cause, err.ctx))


def ingest_events(
    settings: IngestSettings,
    index: VectorIndex,
    embedder: Embedder,
    request: IngestRequest,
    *,
    resilience: ResilienceEnv | None = None,
    sleeper: Sleeper | None = None,
    room: Room | None = None,
    remote: Remote | None = None,
) -> AsyncGen[IngestEvent]:
    """Sync the store with the sources by the protocol, then prune if asked: as a stream of
    events (``Phase``, then per source an ``Outcome`` or a ``SourceError``).

    A final ``Err`` item (and nothing after it) when the run cannot start, the store fails
    outside a source (stage ``store``) or a ``Halt`` came through the stages (the first one,
    once the stages have drained: every write after it fails at once); a source that fails is
    a ``SourceError`` event and the run goes on. ``room`` is asked before each write
    whether it fits on the disk; too little ends the run (``Err(NO_SPACE)``, stage ``store``)
    before anything is written that does not fit.

    ``remote``: run on a cluster (``remote_sources``): workers read, parse and chunk shards of
    sources and embed the requests of ``remote.embedder``; this process plans against the
    store and is its one writer. Everything else (events, report, guarantees) is the same.
    """
    want = CollectionStamp(embedder.identity, settings.chunking, settings.search)

    async def _open() -> Result[Opened, ErrInfo]:
        # Nothing is created here: the collection is created (and stamped) by the first write,
        # after the embedder has answered. A dry run checks exactly what the real run checks.
        info = await index.info()()
        if isinstance(info, Err):
            return _store_err(info.error, "cannot open the collection")
        if info.value is None:
            store: VectorIndex = EmptyIndex() if request.dry_run else index
            return Ok(Opened(store, {}, fresh=True, stamped=False))
        listed = await index.commits()()
        if isinstance(listed, Err):
            return _store_err(listed.error, "cannot read the commit markers")
        conflict = stamp_conflict(request.collection, info.value, want, listed.value)
        if conflict is not None:
            return Err(identity_mismatch(conflict))
        commits = {c.source: c for c in listed.value}
        # a stamp that fits but differs (the search's mode, RRF or cap changed) is rewritten
        return Ok(Opened(index, commits, fresh=False, stamped=info.value.stamp == want))

    async def _gen() -> AsyncIterator[Result[IngestEvent, ErrInfo]]:
        # The store opens (and its commit markers are read) while the first sources are read
        # and parsed; nothing is planned, embedded or written before it is open.
        loop = asyncio.get_running_loop()
        opening = loop.create_task(_open())
        cfg = RunConfig(
            embedder if remote is None else remote.embedder,
            settings,
            request.dry_run,
            stamp=want,
            room=room,
            env=resilience,
            embed_concurrency=max(
                settings.embed_concurrency, remote.embed_concurrency if remote else 1
            ),
        )
        store = StoreSession(index, opening)
        seen: set[str] = set()  # the read stage's: a source found twice is read once
        env = StageEnv(resilience, sleeper)
        if remote is None:
            outcomes = describe_ingest(cfg, store, seen, env)(request.source.sources())
        else:
            ctx = SyncContext(embedder.identity, settings.spec_hash, settings.chunking)
            prepared = remote_sources(
                request.source.sources(),
                remote.runner,
                store=store,
                ctx=ctx,
                seen=seen,
                shard_size=remote.shard_size,
                embed_fresh=not request.dry_run,
            )
            outcomes = describe_prepared(cfg, store, env)(prepared)
        run = RunLog()  # the run's own state: what prune needs to know
        halt: Halt | None = None
        it = outcomes()
        first = loop.create_task(_next(it))  # starts the pipeline
        try:
            opened = await opening
            if isinstance(opened, Err):
                yield opened
                return
            yield Ok(Phase("sync"))
            item = await first
            while item is not _END:
                assert isinstance(item, Ok | Err)
                if isinstance(item, Err):
                    e = source_error(item.error)
                    run.failed(e)
                    yield Ok(e)
                elif isinstance(item.value, Halt):
                    halt = halt or item.value  # the run ends with it, once the stages drain
                elif isinstance(item.value, Outcome):
                    if request.prune:
                        run.seen.add(item.value.source)
                    yield Ok(item.value)
                item = await _next(it)
        finally:
            for task in (first, opening):
                task.cancel()
            await asyncio.gather(first, opening, return_exceptions=True)
            await close_stream(it)
        if halt is not None:
            yield Err(halt.error)
            return
        if request.prune and not store.fresh:
            yield Ok(Phase("prune"))
            async for event in prune_phase(
                store.index, cfg, want, request.roots, request.dry_run, run
            )():
                yield event

    return _gen


class RunOptions(TypedDict, total=False):
    """``ingest_events``' keyword options, for the functions that pass them on."""

    resilience: ResilienceEnv | None
    sleeper: Sleeper | None
    room: Room | None
    remote: Remote | None


def ingest(
    settings: IngestSettings,
    index: VectorIndex,
    embedder: Embedder,
    request: IngestRequest,
    **options: Unpack[RunOptions],
) -> AsyncPlan[IngestReport]:
    """The run's report: ``fold_report`` of ``ingest_events`` (the same options); its ``Err``
    if it ends in one."""
    events = ingest_events(settings, index, embedder, request, **options)
    return fold_events(events, keep_outcomes=request.dry_run)


def fold_events(
    events: AsyncGen[IngestEvent], *, keep_outcomes: bool = False
) -> AsyncPlan[IngestReport]:
    """Drain an event stream into its report (a left fold by ``IngestReport.apply``, as
    ``fold_report``); the stream's ``Err`` ends it."""

    async def _run() -> Result[IngestReport, ErrInfo]:
        report = IngestReport(keep_outcomes=keep_outcomes)
        async for item in events():
            if isinstance(item, Err):
                return item
            report.apply(item.value)
        return Ok(report)

    return _run


T = TypeVar("T")

_END = object()


async def _next(it: AsyncIterator[T]) -> T | object:
    try:
        return await it.__anext__()
    except StopAsyncIteration:
        return _END


def plan_lines(report: IngestReport) -> Sequence[str]:
    """Human lines of a dry run's plan, one per source that would change."""
    return [
        f"{o.action:<8} {o.source}  embed {o.embedded}, upsert {o.upserted}, delete {o.deleted}"
        for o in report.outcomes
        if o.action != "unchanged"
    ]
