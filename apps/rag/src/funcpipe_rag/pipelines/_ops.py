"""The ingest ops as registry entries: read, plan, embed, write.

Each stage is a top-level function taking what it needs as arguments: the run's immutable
``RunConfig``, the ``StoreSession`` (read, plan and write only) and the run's set of seen
source keys (read only). ``registry_for`` binds them for one run.

Writes follow the protocol of rag-app.md per group of sources: upsert the new points (embedded
ones and payload rewrites with their stored vectors), delete stale points, then write the
commit markers (and drop markers of deleted sources last). Each store call is retried on its
own (every write is an idempotent upsert or delete by stable id). A stage never fails a whole
group: it gives one ``Err`` per failed source, with the source key as ``path[0]``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TypeVar

from funcpipe.async_plan import AsyncPlan, async_pure, async_with_resilience
from funcpipe.policies import BackpressurePolicy, ResilienceEnv, RetryPolicy, TimeoutPolicy
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.specs import (
    BUILTIN_SIZES,
    SIZE_COUNT,
    Params,
    PipelineSpec,
    Registry,
    RegistryEntry,
    batch_map_entry,
    flat_map_entry,
    map_entry,
)
from funcpipe.streams import AsyncGen, async_gen_bounded_map

from funcpipe_rag.domain import (
    NO_SPACE,
    SUPPORTED_EXTENSIONS,
    Bm25Params,
    ChunkingConfig,
    ChunkRecord,
    CollectionStamp,
    CommitRecord,
    Document,
    EmbeddedChunk,
    Embedder,
    RawSource,
    Room,
    SearchConfig,
    SourcePlan,
    SourceState,
    SyncContext,
    Vector,
    VectorIndex,
    desired_records,
    is_current,
    is_url,
    kind_of,
    looks_like_html,
    parse_text,
    plan_source,
    sha256_hex,
    space_needed,
)

from ._reuse import VectorReuse
from ._types import STAGE_EMBED, STAGE_STORE, Outcome, Prepared, Ready

READ_ID, DOCS_ID, PLAN_ID = "rag.read", "rag.docs", "rag.plan"
EMBED_ID, WRITE_ID = "rag.embed", "rag.write"
OPS_VERSION = "2"
"""The ops' version in every spec: 2 since chunks hold readable text with source spans, titles
and heading paths (a spec built against 1 is VERSION_MISMATCH: its stores hold the old chunks)."""
ALLOW_LIST = frozenset({READ_ID, DOCS_ID, PLAN_ID, EMBED_ID, WRITE_ID})

DEFAULT_MAX_BYTES = 8 * 1024 * 1024

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Opened:
    """The store to use, its commit markers by source, whether the collection does not exist
    yet (``fresh``: nothing to read; the first write creates it) and whether it is stamped."""

    index: VectorIndex
    commits: Mapping[str, CommitRecord]
    fresh: bool
    stamped: bool


@dataclass(frozen=True, slots=True)
class Resilience:
    """The unit of retry: each embedding request and each store write, on its own.

    ``embed_retry`` / ``embed_timeout`` / ``embed_concurrency`` come from the spec's embed op
    (its retry, timeout and backpressure), ``store_retry`` from its write op.
    """

    embed_retry: RetryPolicy | None = None
    embed_timeout: TimeoutPolicy | None = None
    embed_concurrency: int = 1
    store_retry: RetryPolicy | None = None
    env: ResilienceEnv | None = None

    def embed(self, step: AsyncPlan[list[Vector]]) -> AsyncPlan[list[Vector]]:
        if self.embed_retry is None and self.embed_timeout is None:
            return step
        retry = self.embed_retry or RetryPolicy(max_attempts=1)
        return async_with_resilience(step, retry, self.embed_timeout, self.env)

    def store(self, step: AsyncPlan[T]) -> AsyncPlan[T]:
        if self.store_retry is None:
            return step
        return async_with_resilience(step, self.store_retry, None, self.env)


@dataclass(frozen=True, slots=True)
class RunConfig:
    """The run's immutable context, read by the stages: the embedder, the spec's hash, the
    dry-run flag, the per-request policies, the stamp a new collection gets, the disk check,
    and the BM25 parameters when the collection is sparse or hybrid."""

    embedder: Embedder
    spec_hash: str
    dry_run: bool = False
    resilience: Resilience = field(default_factory=Resilience)
    stamp: CollectionStamp | None = None
    room: Room | None = None
    bm25: Bm25Params | None = None


class StoreSession:
    """The run's one stateful handle on the store (owned by the run, given only to the stages
    that touch the store: read, plan, write).

    ``opening``: when set, the store is still being opened (and its commit markers read)
    while the sources are read; ``ready()`` waits for it and installs ``index`` and
    ``commits``. ``writable()`` creates and stamps the collection once, before the first
    write. ``fatal``: a store failure that ends the run.
    """

    def __init__(
        self,
        index: VectorIndex,
        opening: asyncio.Future[Result[Opened, ErrInfo]] | None = None,
    ) -> None:
        self.index = index
        self.commits: Mapping[str, CommitRecord] = {}
        self.fresh = False
        self.stamped = True
        self.fatal: ErrInfo | None = None
        self._opening = opening
        self._writable: asyncio.Future[Result[None, ErrInfo]] | None = None

    def fail(self, e: ErrInfo) -> None:
        """Record the first failure that ends the run."""
        self.fatal = self.fatal or e

    async def ready(self) -> Result[None, ErrInfo]:
        """Ok once the store is open; the opening's Err otherwise (every time)."""
        opening = self._opening
        if opening is None:
            return Ok(None)
        got = await asyncio.shield(opening)  # a cancelled waiter never cancels the opening
        if isinstance(got, Err):
            return got
        if self._opening is opening:
            o = got.value
            self.index, self.commits = o.index, o.commits
            self.fresh, self.stamped = o.fresh, o.stamped
            self._opening = None
        return Ok(None)

    async def writable(self, cfg: RunConfig) -> Result[None, ErrInfo]:
        """Before the first write (once): create the collection if missing, stamp it if not
        stamped. A failure here ends the run (``fatal``)."""
        if self._writable is None:
            self._writable = asyncio.ensure_future(self._make_writable(cfg))
        return await asyncio.shield(self._writable)

    async def _make_writable(self, cfg: RunConfig) -> Result[None, ErrInfo]:
        dim = cfg.embedder.identity.dim
        if cfg.room is not None:
            roomy = cfg.room(0)
            if isinstance(roomy, Err):
                self.fail(roomy.error)
                return roomy
        ensured = await cfg.resilience.store(self.index.ensure(dim, cfg.bm25 is not None))()
        if isinstance(ensured, Err):
            e = ensured.error
            if e.code == codes.DIMENSION_MISMATCH:
                msg = (
                    f"{e.msg}; the embedder {cfg.embedder.identity} makes {dim}-d vectors: "
                    "use another --collection (or the embedder it was written with)"
                )
                e = ErrInfo(e.code, msg, "config", e.path, e.cause, e.ctx)
            else:
                msg = f"cannot create the collection: {e.msg}"
                e = ErrInfo(e.code, msg, STAGE_STORE, e.path, e.cause, e.ctx)
            self.fail(e)
            return Err(e)
        if not self.stamped and cfg.stamp is not None:
            st = await cfg.resilience.store(self.index.write_stamp(cfg.stamp))()
            if isinstance(st, Err):
                e = st.error
                msg = f"cannot stamp the collection: {e.msg}"
                self.fail(ErrInfo(e.code, msg, STAGE_STORE, e.path, e.cause))
                return st
            self.stamped = True
        self.fresh = False
        return Ok(None)


def _int(params: Params, key: str, default: int, minimum: int = 1) -> int:
    v = params.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise ValueError(f"param {key!r} must be an int >= {minimum}, got {v!r}")
    return v


def chunking_of(params: Params) -> ChunkingConfig:
    """The chunking config of the plan op's params (``chunk_chars``, ``chunk_overlap``)."""
    return ChunkingConfig(
        _int(params, "chunk_chars", 800, 16), _int(params, "chunk_overlap", 80, 0)
    )


def at_source(err: ErrInfo, stage: str, source: str) -> Err[ErrInfo]:
    """``err`` as the failure of one source: its stage, and the source key as ``path[0]``."""
    return Err(ErrInfo(err.code, err.msg, stage, (source,), err.cause, err.ctx))


def _each(err: ErrInfo, stage: str, sources: Sequence[str]) -> list[Result[T, ErrInfo]]:
    """One failure per source a group-level ``err`` stands for."""
    return [at_source(err, stage, s) for s in sources]


Parsed = list[Result[Document, ErrInfo]]
"""What reading one source gives: its documents, or per-document errors."""


def read_source(
    raw: RawSource, *, max_bytes: int, seen: set[str], store: StoreSession, cfg: RunConfig
) -> AsyncPlan[Parsed]:
    """Map stage: read and parse one source (run with bounded concurrency by the spec).

    ``seen`` (the run's set of source keys read so far) drops a source found twice; a source
    whose raw text is the one its current commit marker names is not parsed."""

    async def _docs() -> Result[Parsed, ErrInfo]:
        return Ok(await _parsed())

    async def _parsed() -> Parsed:
        if raw.key in seen:
            return []
        seen.add(raw.key)
        got = await raw.read(max_bytes)()
        if isinstance(got, Err):
            e = got.error
            return [Err(ErrInfo(e.code, e.msg, "read", (raw.key,), e.cause, e.ctx))]
        kind = kind_of(raw.key)
        if kind is None:
            exts = " ".join(sorted(SUPPORTED_EXTENSIONS))
            msg = f"unsupported file type; supported: {exts}"
            return [Err(ErrInfo(codes.UNSUPPORTED, msg, "parse", (raw.key,)))]
        if kind == "txt" and is_url(raw.key) and looks_like_html(got.value):
            kind = "html"
        raw_hash = sha256_hex(got.value)
        known = await _current_commit(raw.key, raw_hash)
        if known is not None:  # the same raw text as committed: no need to parse it
            return [Ok(Document(raw.key, "", known.doc_version, kind, "", raw_hash))]
        docs = parse_text(raw.key, got.value, kind)
        if len(docs) == 1 and isinstance(docs[0], Ok) and docs[0].value.source == raw.key:
            return [Ok(replace(docs[0].value, raw_hash=raw_hash))]
        return docs

    async def _current_commit(key: str, raw_hash: str) -> CommitRecord | None:
        """The source's commit marker when it was written from this very raw text by this
        embedder and spec (so the plan says unchanged without the text)."""
        if (await store.ready()).is_err():
            return None
        c = store.commits.get(key)
        current = (
            c is not None
            and c.raw_hash == raw_hash
            and c.embedder == str(cfg.embedder.identity)
            and c.spec_hash == cfg.spec_hash
        )
        return c if current else None

    return _docs


def to_documents(parsed: list[Result[T, ErrInfo]]) -> AsyncGen[T]:
    """FlatMap stage: one source's parse results become stream items, in order."""

    async def _gen() -> AsyncIterator[Result[T, ErrInfo]]:
        for r in parsed:
            yield r

    return _gen


Planned = list[Result[SourcePlan, ErrInfo]]
"""What planning a group gives: per document, its plan or why it failed."""


def plan_group(
    docs: list[Document], *, ctx: SyncContext, store: StoreSession, resilience: Resilience
) -> AsyncPlan[Planned]:
    """BatchMap stage: plan a group of documents with one store query for all the changed
    ones.

    A document whose commit marker is current needs nothing (no chunking, no query). The
    others are chunked and compared with every chunk point their source has in the store
    (also leftovers of a crashed run), read in one query retried by ``resilience.store``; a
    query that fails for good fails each source of the group (an ``Err`` at its key).
    """
    return _plan_docs(docs, lambda d: desired_records(d, ctx), ctx, store, resilience)


def plan_prepared(
    items: list[Prepared], *, ctx: SyncContext, store: StoreSession, resilience: Resilience
) -> AsyncPlan[Planned]:
    """BatchMap stage of a distributed run: ``plan_group`` over documents a worker has
    already chunked (their records travel with them)."""
    records = {p.doc.source: p.records for p in items}
    docs = [p.doc for p in items]
    return _plan_docs(docs, lambda d: records[d.source], ctx, store, resilience)


def _plan_docs(
    docs: list[Document],
    chunked: Callable[[Document], tuple[ChunkRecord, ...]],
    ctx: SyncContext,
    store: StoreSession,
    resilience: Resilience,
) -> AsyncPlan[Planned]:
    async def _plan() -> Result[Planned, ErrInfo]:
        opened = await store.ready()
        if isinstance(opened, Err):
            return Ok(_each(opened.error, STAGE_STORE, [d.source for d in docs]))
        todo = [d for d in docs if not is_current(d, store.commits.get(d.source), ctx)]
        if not todo:
            return Ok([Ok(SourcePlan(d.source, "unchanged")) for d in docs])
        desired = {d.source: chunked(d) for d in todo}
        sources = sorted(desired)
        reads = async_pure([]) if store.fresh else resilience.store(store.index.chunks_of(sources))
        stored = await reads()
        if isinstance(stored, Err):
            return Ok(_each(stored.error, STAGE_STORE, [d.source for d in docs]))
        by_source: dict[str, list[ChunkRecord]] = {s: [] for s in sources}
        for rec in stored.value:
            by_source.setdefault(rec.source, []).append(rec)
        out: Planned = []
        for d in docs:
            if d.source not in desired:
                out.append(Ok(SourcePlan(d.source, "unchanged")))
                continue
            state = SourceState(
                store.commits.get(d.source),
                tuple(sorted(by_source[d.source], key=lambda r: r.id)),
            )
            planned = plan_source(d.source, desired[d.source], d.version, state, ctx, d.raw_hash)
            out.append(Ok(planned))
        return Ok(out)

    return _plan


def embed_batches(texts: Sequence[str], max_items: int, max_chars: int) -> list[range]:
    """Split ``texts`` into consecutive batches of at most ``max_items`` texts and at most
    ``max_chars`` characters in all (a longer text goes alone).

    Laws: the ranges cover ``texts`` in order exactly once; none is empty.
    """
    out: list[range] = []
    start, chars = 0, 0
    for i, text in enumerate(texts):
        full = i - start >= max_items or (i > start and chars + len(text) > max_chars)
        if full:
            out.append(range(start, i))
            start, chars = i, 0
        chars += len(text)
    if start < len(texts):
        out.append(range(start, len(texts)))
    return out


EmbedOut = list[Result[Ready, ErrInfo]]
"""What embedding a group gives: per source, its plan with vectors, or why it failed."""


def embed_group(
    plans: list[SourcePlan],
    *,
    cfg: RunConfig,
    batch: int,
    max_chars: int,
    reuse: VectorReuse | None = None,
) -> AsyncPlan[EmbedOut]:
    """BatchMap stage: embed a group's new chunks in requests of ``batch`` texts (and
    ``max_chars`` characters) at most.

    With ``reuse`` (rag-app.md, watch), a chunk whose content hash the collection already
    holds for this embedder takes the stored vector, and a text the group holds twice is sent
    once: ``Ready.reused`` counts the chunks that were not sent. Each request is retried on
    its own (``cfg.resilience``) and the requests of a group run concurrently, at most
    ``embed_concurrency`` at once. A vector got is kept for the group (by chunk hash), so even
    a retry of the whole group never sends it again. After a request fails for good no new
    one starts; the sources it (or a request not sent) covers fail, the group's others go on
    to be written.
    """
    records = [r for p in plans for r in p.embed]
    if cfg.dry_run or not records:
        return async_pure([Ok(Ready(p, ())) for p in plans])
    text_of = {r.chunk_hash: r.indexed_text for r in records}
    got: dict[str, Vector] = {}  # chunk hash -> vector, across group retries
    found: set[str] = set()  # hashes whose vector was reused (not sent by this group)
    res = cfg.resilience
    policy = BackpressurePolicy(max_concurrent=res.embed_concurrency, ordered=False)
    dim = cfg.embedder.identity.dim

    def request(part: list[str]) -> AsyncPlan[int]:
        step = res.embed(cfg.embedder.embed([text_of[h] for h in part]))

        async def _one() -> Result[int, ErrInfo]:
            out = await step()
            if isinstance(out, Err):
                return out
            if len(out.value) != len(part):
                msg = f"embedder returned {len(out.value)} vectors for {len(part)} texts"
                return Err(ErrInfo(codes.SERVICE_SPECIFIC, msg, STAGE_EMBED))
            if any(len(v) != dim for v in out.value):
                msg = f"embedder returned vectors that are not {dim}-d"
                return Err(ErrInfo(codes.DIMENSION_MISMATCH, msg, STAGE_EMBED))
            for h, v in zip(part, out.value, strict=True):
                got[h] = v
                if reuse is not None:
                    reuse.remember(h, v)
            return Ok(len(part))

        return _one

    async def _embed() -> Result[EmbedOut, ErrInfo]:
        wanted = [h for h in text_of if h not in got]
        if reuse is not None and wanted:
            known = await reuse.lookup(wanted)()
            if isinstance(known, Ok):
                for h, v in known.value.items():
                    if len(v) == dim:
                        got[h] = v
                        found.add(h)
        todo = [h for h in text_of if h not in got]
        spans = embed_batches([text_of[h] for h in todo], batch, max_chars)

        async def _parts() -> AsyncIterator[Result[list[str], ErrInfo]]:
            for span in spans:
                yield Ok(todo[span.start : span.stop])

        failed: ErrInfo | None = None
        it = async_gen_bounded_map(_parts, request, policy)()
        try:
            async for r in it:
                if isinstance(r, Err):
                    failed = r.error
                    break
        finally:
            aclose = getattr(it, "aclose", None)
            if aclose is not None:
                await aclose()
        out: EmbedOut = []
        credited: set[str] = set()  # a text sent once is embedded for its first chunk only
        for p in plans:
            mine = [got.get(r.chunk_hash) for r in p.embed]
            if all(v is not None for v in mine):
                sent = {r.chunk_hash for r in p.embed} - found - credited
                credited |= sent
                vectors = tuple(v for v in mine if v is not None)
                out.append(Ok(Ready(p, vectors, len(p.embed) - len(sent))))
            else:
                assert failed is not None
                out.append(at_source(failed, STAGE_EMBED, p.source))
        return Ok(out)

    return _embed


def write_group(
    index: VectorIndex,
    group: Sequence[Ready],
    upsert_batch: int,
    resilience: Resilience | None = None,
    room: Room | None = None,
    bm25: Bm25Params | None = None,
) -> AsyncPlan[list[Outcome]]:
    """Write a group of sources by the protocol; ``Ok`` only when every step succeeded, else
    the failed step's ``Err`` (stage ``store``; the caller knows which sources it wrote).
    With ``bm25``, every upserted chunk gets its BM25 vector (computed by the index from its
    text, so a point whose dense vector is reused gets the same sparse vector as a fresh one).

    Each write is retried on its own by ``resilience.store_retry`` (every write is an
    idempotent upsert or delete by stable id). ``room`` is asked first whether the points fit
    on the disk (``Err(NO_SPACE)``: nothing of the group is written).
    """
    retried = (resilience or Resilience()).store

    async def _write() -> Result[list[Outcome], ErrInfo]:
        def fail(e: ErrInfo) -> Err[ErrInfo]:
            return Err(ErrInfo(e.code, e.msg, STAGE_STORE, e.path, e.cause, e.ctx))

        rewrite = [rec for r in group for rec in r.plan.rewrite]
        stored: dict[str, Vector] = {}
        for i in range(0, len(rewrite), upsert_batch):
            got = await retried(index.vectors([rec.id for rec in rewrite[i : i + upsert_batch]]))()
            if isinstance(got, Err):
                return fail(got.error)
            stored.update(got.value)
        missing = [rec.id for rec in rewrite if rec.id not in stored]
        if missing:
            msg = f"{len(missing)} stored point(s) vanished during the run; run ingest again"
            return Err(ErrInfo(codes.DB_ERROR, msg, STAGE_STORE))
        points = [
            EmbeddedChunk(rec, v)
            for r in group
            for rec, v in zip(r.plan.embed, r.vectors, strict=True)
        ]
        points += [EmbeddedChunk(rec, stored[rec.id]) for rec in rewrite]
        if room is not None and points:
            dim = len(points[0].vector)
            roomy = room(space_needed(len(points), dim, sum(len(p.record.text) for p in points)))
            if isinstance(roomy, Err):
                return fail(roomy.error)
        for i in range(0, len(points), upsert_batch):
            up = await retried(index.upsert_chunks(points[i : i + upsert_batch], bm25))()
            if isinstance(up, Err):
                return fail(up.error)
        stale = [i for r in group for i in r.plan.delete]
        for i in range(0, len(stale), upsert_batch):
            de = await retried(index.delete(stale[i : i + upsert_batch]))()
            if isinstance(de, Err):
                return fail(de.error)
        commits = [r.plan.commit for r in group if r.plan.commit is not None]
        if commits:
            cm = await retried(index.upsert_commits(commits))()
            if isinstance(cm, Err):
                return fail(cm.error)
        gone = [r.plan.delete_commit for r in group if r.plan.delete_commit is not None]
        if gone:
            dm = await retried(index.delete(gone))()
            if isinstance(dm, Err):
                return fail(dm.error)
        return Ok([Outcome.of(r.plan, r.reused) for r in group])

    return _write


Written = list[Result[Outcome, ErrInfo]]
"""What writing a group gives: per source, its outcome or why it failed."""


def write_sources(
    group: list[Ready], *, store: StoreSession, cfg: RunConfig, upsert_batch: int
) -> AsyncPlan[Written]:
    """BatchMap stage: write a group's changed sources by the protocol (``write_group``),
    after making the store writable; a failed group fails each of its changed sources (an
    ``Err`` at its key); a full disk ends the run (``store.fatal``)."""
    busy = [r for r in group if not r.plan.is_noop]
    if cfg.dry_run or not busy:
        return async_pure([Ok(Outcome.of(r.plan)) for r in group])
    idle: Written = [Ok(Outcome.of(r.plan)) for r in group if r.plan.is_noop]
    sources = [r.plan.source for r in busy]

    async def _write() -> Result[Written, ErrInfo]:
        ready = await store.writable(cfg)
        if isinstance(ready, Err):
            return Ok(idle + _each(ready.error, STAGE_STORE, sources))
        res = await write_group(
            store.index, busy, upsert_batch, cfg.resilience, cfg.room, cfg.bm25
        )()
        if isinstance(res, Err):
            if res.error.code == NO_SPACE:
                store.fail(res.error)  # a full disk ends the run
            return Ok(idle + _each(res.error, STAGE_STORE, sources))
        done: Written = [Ok(o) for o in res.value]
        return Ok(idle + done)

    return _write


def registry_for(
    cfg: RunConfig, store: StoreSession, seen: set[str], *, prepared: bool = False
) -> Registry:
    """The trusted registry of the ingest ops, each factory reading its op's params and
    binding its stage to what that stage needs of one run (and nothing more).

    ``prepared``: the registry of a distributed run's command, whose sources are already
    read, parsed and chunked by workers (``PreparedList`` items): its read op passes them on
    and its plan op is ``plan_prepared``; embed and write are the same stages."""

    def read(params: Params) -> Callable[[RawSource], AsyncPlan[Parsed]]:
        max_bytes = _int(params, "max_bytes", DEFAULT_MAX_BYTES)
        if prepared:
            return async_pure  # type: ignore[return-value]  # PreparedList items pass on
        return partial(read_source, max_bytes=max_bytes, seen=seen, store=store, cfg=cfg)

    def docs(_: Params) -> Callable[[Parsed], AsyncGen[Document]]:
        return to_documents

    def plan(params: Params) -> Callable[[list[Document]], AsyncPlan[Planned]]:
        ctx = SyncContext(cfg.embedder.identity, cfg.spec_hash, chunking_of(params))
        if prepared:
            bound = partial(plan_prepared, ctx=ctx, store=store, resilience=cfg.resilience)
            return bound  # the items are Prepared
        return partial(plan_group, ctx=ctx, store=store, resilience=cfg.resilience)

    # watch (issue 23): the run's vector reuse, reading the store once it is open
    reuse = VectorReuse(str(cfg.embedder.identity), lambda: None if store.fresh else store.index)

    def embed(params: Params) -> Callable[[list[SourcePlan]], AsyncPlan[EmbedOut]]:
        batch = _int(params, "embed_batch", 64)
        max_chars = _int(params, "embed_max_chars", 64_000)
        return partial(embed_group, cfg=cfg, batch=batch, max_chars=max_chars, reuse=reuse)

    def write(params: Params) -> Callable[[list[Ready]], AsyncPlan[Written]]:
        upsert_batch = _int(params, "upsert_batch", 256)
        return partial(write_sources, store=store, cfg=cfg, upsert_batch=upsert_batch)

    return Registry(
        [
            map_entry(READ_ID, OPS_VERSION, read),
            flat_map_entry(DOCS_ID, OPS_VERSION, docs),
            batch_map_entry(PLAN_ID, OPS_VERSION, plan),
            batch_map_entry(EMBED_ID, OPS_VERSION, embed),
            batch_map_entry(WRITE_ID, OPS_VERSION, write),
        ]
    )


STAGE_TYPES: dict[str, tuple[str, str]] = {
    READ_ID: ("RawSource", "Parsed"),
    DOCS_ID: ("Parsed", "Document"),
    PLAN_ID: ("Document", "SourcePlan"),
    EMBED_ID: ("SourcePlan", "Ready"),
    WRITE_ID: ("Ready", "Outcome"),
}
"""What each op takes and gives: the ingest is RawSource -> ... -> Outcome."""


def check_stage_types(ops: Sequence[str]) -> Result[None, ErrInfo]:
    """``Err(INVALID_SPEC)`` naming both ops when neighbours do not fit, or when the chain
    does not turn the sources (``RawSource``) into ``Outcome`` (it would ingest nothing)."""
    have, prev = "RawSource", "the sources"
    for i, func_id in enumerate(ops):
        types = STAGE_TYPES.get(func_id)
        if types is None:
            continue  # not ours: reconstruction refuses it (UNALLOWED_OP / UNKNOWN_OP)
        takes, gives = types
        if takes != have:
            msg = f"ops.{i}: {func_id} takes {takes}, but {prev} gives {have}"
            return Err(ErrInfo(codes.INVALID_SPEC, msg, stage="spec", path=("ops", i)))
        have, prev = gives, func_id
    if have != "Outcome":
        msg = (
            f"the last op, {prev}, gives {have}: an ingest spec must end with {WRITE_ID} "
            f"(read -> docs -> plan -> embed -> write), or it would ingest nothing"
        )
        return Err(ErrInfo(codes.INVALID_SPEC, msg, stage="spec", path=("ops",)))
    return Ok(None)


PARAMS: dict[str, Callable[[Params], object]] = {
    READ_ID: lambda p: _int(p, "max_bytes", DEFAULT_MAX_BYTES),
    DOCS_ID: lambda p: None,
    PLAN_ID: chunking_of,
    EMBED_ID: lambda p: (_int(p, "embed_batch", 64), _int(p, "embed_max_chars", 64_000)),
    WRITE_ID: lambda p: _int(p, "upsert_batch", 256),
}
"""Each op's params reader (``ValueError`` for a bad value): what its factory reads."""


def spec_search(spec: PipelineSpec) -> SearchConfig:
    """The search config of a spec (``resources.search``); a spec without one searches dense.
    ``ValueError`` naming the bad field (``check_ingest_spec`` reports it as INVALID_SPEC)."""
    data = spec.resources.get("search")
    if data is None:
        return SearchConfig(mode="dense")
    return SearchConfig.from_data(data)


def check_ingest_spec(spec: PipelineSpec) -> Result[None, ErrInfo]:
    """Whether this app can run ``spec``, checked without building it (no store, no embedder):
    every op allowed (UNALLOWED_OP), of its registered kind (INVALID_SPEC) and version
    (VERSION_MISMATCH), chunk sizes built in (UNKNOWN_OP), params valid (RECONSTRUCT_FAIL),
    the stage types chain RawSource -> ... -> Outcome (INVALID_SPEC), and
    ``resources.search`` is a valid search config (INVALID_SPEC). The run's one
    reconstruction refuses the same specs."""
    try:
        spec_search(spec)
    except ValueError as exc:
        msg = f"resources.{exc}"
        return Err(ErrInfo(codes.INVALID_SPEC, msg, stage="specs", path=("resources", "search")))
    for i, op in enumerate(spec.ops):
        entry = DESCRIBE_ENTRIES.get(op.func_id)
        path: tuple[str | int, ...] = ("ops", i)
        if entry is None:
            msg = f"ops.{i}.func_id: {op.func_id!r} is not in the allow-list"
            return Err(ErrInfo(codes.UNALLOWED_OP, msg, stage="specs", path=(*path, "func_id")))
        if entry.kind != op.kind:
            msg = f"ops.{i}.kind: {op.func_id!r} is a {entry.kind}, the spec says {op.kind}"
            return Err(ErrInfo(codes.INVALID_SPEC, msg, stage="specs", path=(*path, "kind")))
        if entry.version != op.func_version:
            msg = (
                f"ops.{i}.func_version: spec built against {op.func_id}@{op.func_version}, "
                f"registry has {op.func_id}@{entry.version}"
            )
            return Err(ErrInfo(codes.VERSION_MISMATCH, msg, stage="specs", path=path))
        for kind, slot in op.policies.items():
            data = spec.policies[slot].config if isinstance(slot, str) else slot
            named = data.get("size", SIZE_COUNT) if kind == "chunk" and data else SIZE_COUNT
            size = getattr(named, "id", named)  # an id, or a NamedSize
            if size not in BUILTIN_SIZES:
                msg = f"ops.{i}: chunk size {size!r} is not one this app knows"
                return Err(ErrInfo(codes.UNKNOWN_OP, msg, stage="specs", path=path))
        try:
            PARAMS[op.func_id](op.params)
        except ValueError as exc:
            msg = f"ops.{i}: factory {op.func_id!r} failed: ValueError: {exc}"
            return Err(ErrInfo(codes.RECONSTRUCT_FAIL, msg, stage="specs", path=path))
    return check_stage_types([op.func_id for op in spec.ops])


def _unbound(_: Params) -> Callable[..., object]:
    raise RuntimeError("describing entry: bind the registry to a run with registry_for()")


DESCRIBE_ENTRIES: dict[str, RegistryEntry] = {
    READ_ID: RegistryEntry(READ_ID, "Map", OPS_VERSION, _unbound),
    DOCS_ID: RegistryEntry(DOCS_ID, "FlatMap", OPS_VERSION, _unbound),
    PLAN_ID: RegistryEntry(PLAN_ID, "BatchMap", OPS_VERSION, _unbound),
    EMBED_ID: RegistryEntry(EMBED_ID, "BatchMap", OPS_VERSION, _unbound),
    WRITE_ID: RegistryEntry(WRITE_ID, "BatchMap", OPS_VERSION, _unbound),
}
"""Entries with the ids and versions of the ops, for building specs in code."""
