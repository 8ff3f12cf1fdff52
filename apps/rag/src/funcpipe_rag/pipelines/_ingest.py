"""The ingest description: the spec's pipeline over the sources, then pruning, as a stream of
events; the report is a fold of the stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from funcpipe.async_plan import AsyncPlan, async_pure
from funcpipe.policies import ResilienceEnv, Sleeper
from funcpipe.result import Err, ErrInfo, Ok, Result
from funcpipe.specs import StageEnv, batch_stage, flat_map_stage, map_stage
from funcpipe.streams import AsyncGen, close_stream

from funcpipe_rag.domain import (
    Bm25Params,
    ChunkRecord,
    CollectionInfo,
    CollectionStamp,
    CommitRecord,
    Document,
    DocumentSource,
    EmbeddedChunk,
    Embedder,
    IndexQuery,
    RawSource,
    Room,
    SearchHit,
    SourcePlan,
    SourceState,
    Stage,
    StoredRecord,
    SyncContext,
    Vector,
    VectorIndex,
    identity_mismatch,
    plan_source,
    prune_candidates,
    stamp_conflict,
)

from ._halts import passing_halts
from ._session import Opened, RunConfig, StoreSession
from ._settings import IngestSettings
from ._shards import PreparedList, Remote, remote_sources
from ._stages import (
    EmbedOut,
    Parsed,
    Planned,
    Written,
    at_source,
    embed_group,
    plan_group,
    plan_prepared,
    read_source,
    to_items,
    write_group,
    write_sources,
)
from ._types import (
    UNKNOWN_SOURCE,
    Halt,
    IngestEvent,
    IngestReport,
    Outcome,
    Phase,
    Prepared,
    Ready,
    SourceError,
    Unchanged,
    source_error,
)


class EmptyIndex:
    """A store with nothing in it, where writes do nothing: what a dry run plans against when
    the collection does not exist yet."""

    def ensure(self, dim: int, sparse: bool = False) -> AsyncPlan[None]:
        return async_pure(None)

    def info(self) -> AsyncPlan[CollectionInfo | None]:
        return async_pure(None)

    def write_stamp(self, stamp: CollectionStamp) -> AsyncPlan[None]:
        return async_pure(None)

    def commits(self) -> AsyncPlan[list[CommitRecord]]:
        return async_pure([])

    def chunks_of(self, sources: Sequence[str]) -> AsyncPlan[list[ChunkRecord]]:
        return async_pure([])

    def scan(self) -> AsyncPlan[tuple[list[StoredRecord], list[str]]]:
        return async_pure(([], []))

    def vectors(self, ids: Sequence[str]) -> AsyncPlan[dict[str, Vector]]:
        return async_pure({})

    def upsert_chunks(
        self, points: Sequence[EmbeddedChunk], bm25: Bm25Params | None = None
    ) -> AsyncPlan[None]:
        return async_pure(None)

    def upsert_commits(self, commits: Sequence[CommitRecord]) -> AsyncPlan[None]:
        return async_pure(None)

    def delete(self, ids: Sequence[str]) -> AsyncPlan[None]:
        return async_pure(None)

    def search(self, query: IndexQuery) -> AsyncPlan[list[SearchHit]]:
        return async_pure([])


@dataclass(frozen=True, slots=True)
class IngestRequest:
    """What to ingest: the sources, the roots they came from (for ``prune``), the flags."""

    source: DocumentSource
    roots: tuple[str, ...]
    prune: bool = False
    dry_run: bool = False
    collection: str = "funcpipe"


async def _one_err(err: ErrInfo) -> AsyncIterator[Result[IngestEvent, ErrInfo]]:
    yield Err(err)


def _store_err(err: ErrInfo, what: str) -> Err[ErrInfo]:
    return Err(ErrInfo(err.code, f"{what}: {err.msg}", Stage.STORE, err.path, err.cause, err.ctx))


Ingest = Callable[[AsyncGen[RawSource]], AsyncGen[Outcome | Halt]]
"""The ingest's stages composed: every source to its outcome (or a ``Halt``)."""


def describe_ingest(cfg: RunConfig, store: StoreSession, seen: set[str], env: StageEnv) -> Ingest:
    """The typed composition of the spec's ops over a run: read (``Parsed``) -> docs
    (``Document | Unchanged``) -> plan (``SourcePlan``) -> embed (``Ready``) -> write
    (``Outcome | Halt``), each op's policies from the settings; plan, embed and write apply
    their retry and timeout per store call and per request (``resilient=False``)."""
    s = cfg.settings
    ctx = SyncContext(cfg.embedder.identity, s.spec_hash, s.chunking)

    def read(raw: RawSource) -> AsyncPlan[Parsed]:
        return read_source(raw, seen=seen, store=store, cfg=cfg)

    def docs(parsed: Parsed) -> AsyncGen[Document | Unchanged]:
        return to_items(parsed)

    def plan(group: list[Document | Unchanged]) -> AsyncPlan[Planned]:
        return plan_group(group, ctx=ctx, store=store, cfg=cfg)

    def embed(plans: list[SourcePlan]) -> AsyncPlan[EmbedOut]:
        return embed_group(plans, cfg=cfg)

    def write(group: list[Ready]) -> AsyncPlan[Written]:
        return write_sources(group, store=store, cfg=cfg)

    read_s = map_stage(s.read, read, env)
    docs_s = flat_map_stage(s.docs, docs, env)
    plan_s = batch_stage(s.plan, plan, env, resilient=False)
    embed_s = batch_stage(s.embed, embed, env, resilient=False)
    write_s = batch_stage(s.write, write, env, resilient=False)
    return lambda sources: write_s(embed_s(plan_s(docs_s(read_s(sources)))))


Prepare = Callable[[AsyncGen[PreparedList | Halt]], AsyncGen[Outcome | Halt]]
"""A distributed run's command side: prepared sources to their outcomes (a ``Halt`` passes
through every stage to the end)."""


def describe_prepared(cfg: RunConfig, store: StoreSession, env: StageEnv) -> Prepare:
    """The command's stages of a distributed run: workers already read, parsed and chunked
    (``remote_sources``), so docs -> plan (``plan_prepared``) -> embed -> write, as above."""
    s = cfg.settings
    ctx = SyncContext(cfg.embedder.identity, s.spec_hash, s.chunking)

    def docs(item: PreparedList | Halt) -> AsyncGen[Prepared | Halt]:
        return to_items([Ok(item)] if isinstance(item, Halt) else item)

    def plan(group: list[Prepared]) -> AsyncPlan[Planned]:
        return plan_prepared(group, ctx=ctx, store=store, cfg=cfg)

    def embed(plans: list[SourcePlan]) -> AsyncPlan[EmbedOut]:
        return embed_group(plans, cfg=cfg)

    def write(group: list[Ready]) -> AsyncPlan[Written]:
        return write_sources(group, store=store, cfg=cfg)

    docs_s = flat_map_stage(s.docs, docs, env)
    plan_s = batch_stage(s.plan, passing_halts(plan), env, resilient=False)
    embed_s = batch_stage(s.embed, passing_halts(embed), env, resilient=False)
    write_s = batch_stage(s.write, passing_halts(write), env, resilient=False)
    return lambda prepared: write_s(embed_s(plan_s(docs_s(prepared))))


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
        run = _RunLog()  # the run's own state: what prune needs to know
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
            async for event in _prune(store.index, cfg, want, request, run)():
                yield event

    return _gen


def ingest(
    settings: IngestSettings,
    index: VectorIndex,
    embedder: Embedder,
    request: IngestRequest,
    *,
    resilience: ResilienceEnv | None = None,
    sleeper: Sleeper | None = None,
    room: Room | None = None,
    remote: Remote | None = None,
) -> AsyncPlan[IngestReport]:
    """The run's report: ``fold_report`` of ``ingest_events``; its ``Err`` if it ends in one."""
    events = ingest_events(
        settings,
        index,
        embedder,
        request,
        resilience=resilience,
        sleeper=sleeper,
        room=room,
        remote=remote,
    )
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


@dataclass(slots=True)
class _RunLog:
    """What one run remembers for pruning: the sources it saw (only with ``--prune``, it is
    O(sources)) and the ones a failure protects."""

    seen: set[str] = field(default_factory=set)
    protected: set[str] = field(default_factory=set)

    def failed(self, e: SourceError) -> None:
        self.protected.add(e.origin or e.source)


T = TypeVar("T")

_END = object()


async def _next(it: AsyncIterator[T]) -> T | object:
    try:
        return await it.__anext__()
    except StopAsyncIteration:
        return _END


def _prune(
    index: VectorIndex,
    cfg: RunConfig,
    stamp: CollectionStamp,
    request: IngestRequest,
    run: _RunLog,
) -> AsyncGen[IngestEvent]:
    """The prune phase: delete stored sources under the roots the run did not see (and no
    failure protects), with the run's own context (the spec is not read again)."""

    async def _gen() -> AsyncIterator[Result[IngestEvent, ErrInfo]]:
        scanned = await index.scan()()
        if isinstance(scanned, Err):
            yield _store_err(scanned.error, "cannot scan the collection for pruning")
            return
        records, _ = scanned.value
        protected = set(run.protected)
        if UNKNOWN_SOURCE in protected:  # a failure we cannot place protects every root
            protected |= set(request.roots)
        stored = {r.source for r in records}
        ctx = SyncContext(stamp.embedder, cfg.spec_hash, stamp.chunking)
        for source in prune_candidates(stored, run.seen, request.roots, protected):
            commit = next(
                (r for r in records if isinstance(r, CommitRecord) and r.source == source), None
            )
            chunks = tuple(r for r in records if isinstance(r, ChunkRecord) and r.source == source)
            plan = plan_source(source, None, "", SourceState(commit, chunks), ctx)
            if plan.is_noop:
                continue
            if not request.dry_run:
                done = await write_group(
                    index, [Ready(plan, ())], cfg.settings.upsert_batch, cfg.store_calls
                )()
                if isinstance(done, Err):
                    yield Ok(source_error(at_source(done.error, Stage.STORE, source).error))
                    continue
            yield Ok(Outcome.of(plan))

    return _gen


def plan_lines(report: IngestReport) -> Sequence[str]:
    """Human lines of a dry run's plan, one per source that would change."""
    return [
        f"{o.action:<8} {o.source}  embed {o.embedded}, upsert {o.upserted}, delete {o.deleted}"
        for o in report.outcomes
        if o.action != "unchanged"
    ]
