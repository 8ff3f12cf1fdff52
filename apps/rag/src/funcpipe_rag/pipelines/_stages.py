"""The ingest's stages, each a typed function of one op: read, docs, plan, embed, write.

Each takes what it needs as arguments: the run's immutable ``RunConfig``, the
``StoreSession`` (read, plan and write only) and the run's set of seen source keys (read
only). Writes follow the protocol of rag-app.md per group of sources: upsert the new points
(embedded ones and payload rewrites with their stored vectors), delete stale points, then write
the commit markers (and drop markers of deleted sources last). Each embedding request and each
store call is retried on its own, once (``RunConfig.embed_calls`` / ``store_calls``); a stage
never fails a whole group: it gives one ``Err`` per failed source, its key as ``path[0]``. A
failure that is no source's (a full disk, a store that cannot be made writable) is a ``Halt``
in the stream, which ends the run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from funcpipe.async_plan import AsyncPlan, async_pure
from funcpipe.policies import BackpressurePolicy
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen, async_gen_bounded_map, close_stream

from funcpipe_rag.domain import (
    SUPPORTED_EXTENSIONS,
    BinarySource,
    ChunkRecord,
    CommitRecord,
    Document,
    RawSource,
    SourcePlan,
    SourceState,
    Stage,
    SyncContext,
    Vector,
    desired_records,
    is_current,
    is_url,
    kind_of,
    looks_like_html,
    parse_text,
    plan_source,
    sha256_hex,
)

from ._extract import read_binary
from ._reuse import VectorReuse
from ._session import RunConfig, StoreSession
from ._settings import Retrying
from ._types import Prepared, Ready, Unchanged

T = TypeVar("T")


def at_source(err: ErrInfo, stage: str, source: str) -> Err[ErrInfo]:
    """``err`` as the failure of one source: its stage, and the source key as ``path[0]``."""
    return Err(ErrInfo(err.code, err.msg, stage, (source,), err.cause, err.ctx))


def each_source(err: ErrInfo, stage: str, sources: Sequence[str]) -> list[Result[T, ErrInfo]]:
    """One failure per source a group-level ``err`` stands for."""
    return [at_source(err, stage, s) for s in sources]


Parsed = list[Result[Document | Unchanged, ErrInfo]]
"""What reading one source gives: its documents (or that it is unchanged), or per-document
errors."""


def read_source(
    raw: RawSource, *, seen: set[str], store: StoreSession, cfg: RunConfig
) -> AsyncPlan[Parsed]:
    """Map stage: read and parse one source (run with bounded concurrency by the spec).

    ``seen`` (the run's set of source keys read so far) drops a source found twice; a source
    whose raw text is the one its current commit marker names is ``Unchanged`` (not parsed)."""

    async def _docs() -> Result[Parsed, ErrInfo]:
        return Ok(await _parsed())

    async def _parsed() -> Parsed:
        if raw.key in seen:
            return []
        seen.add(raw.key)
        if isinstance(raw, BinarySource):  # PDF, DOCX, plug-ins: extracted (see _extract)
            return await read_binary(raw, cfg.settings.max_bytes, _current_version)
        got = await raw.read(cfg.settings.max_bytes)()
        if isinstance(got, Err):
            e = got.error
            return [Err(ErrInfo(e.code, e.msg, Stage.READ, (raw.key,), e.cause, e.ctx))]
        kind = kind_of(raw.key)
        if kind is None:
            exts = " ".join(sorted(SUPPORTED_EXTENSIONS))
            msg = f"unsupported file type; supported: {exts}"
            return [Err(ErrInfo(codes.UNSUPPORTED, msg, Stage.PARSE, (raw.key,)))]
        if kind == "txt" and is_url(raw.key) and looks_like_html(got.value):
            kind = "html"
        raw_hash = sha256_hex(got.value)
        known = await _current_commit(raw.key, raw_hash)
        if known is not None:  # the same raw text as committed: no need to parse it
            return [Ok(Unchanged(raw.key, known.doc_version))]
        docs = parse_text(raw.key, got.value, kind)
        if len(docs) == 1 and isinstance(docs[0], Ok) and docs[0].value.source == raw.key:
            return [Ok(replace(docs[0].value, raw_hash=raw_hash))]
        return list(docs)

    async def _current_version(key: str, raw_hash: str) -> str | None:
        c = await _current_commit(key, raw_hash)
        return None if c is None else c.doc_version

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


def to_items(parsed: Sequence[Result[T, ErrInfo]]) -> AsyncGen[T]:
    """FlatMap stage: one source's results become stream items, in order."""

    async def _gen() -> AsyncIterator[Result[T, ErrInfo]]:
        for r in parsed:
            yield r

    return _gen


Planned = list[Result[SourcePlan, ErrInfo]]
"""What planning a group gives: per document, its plan or why it failed."""


def plan_group(
    docs: list[Document | Unchanged], *, ctx: SyncContext, store: StoreSession, cfg: RunConfig
) -> AsyncPlan[Planned]:
    """BatchMap stage: plan a group of documents with one store query for all the changed
    ones.

    An ``Unchanged`` source, or a document whose commit marker is current, needs nothing (no
    chunking, no query). The others are chunked and compared with every chunk point their
    source has in the store (also leftovers of a crashed run), read in one query (retried
    by ``cfg.store_calls``); a query that fails for good fails each source of the group."""

    def chunked(d: Document) -> tuple[ChunkRecord, ...]:
        return desired_records(d, ctx)

    return _plan_docs(docs, chunked, ctx, store, cfg.store_calls)


def plan_prepared(
    items: list[Prepared], *, ctx: SyncContext, store: StoreSession, cfg: RunConfig
) -> AsyncPlan[Planned]:
    """BatchMap stage of a distributed run: ``plan_group`` over documents a worker has
    already chunked (their records travel with them)."""
    records = {p.doc.source: p.records for p in items}
    docs = [p.doc for p in items]
    return _plan_docs(docs, lambda d: records[d.source], ctx, store, cfg.store_calls)


def _plan_docs(
    docs: Sequence[Document | Unchanged],
    chunked: Callable[[Document], tuple[ChunkRecord, ...]],
    ctx: SyncContext,
    store: StoreSession,
    store_calls: Retrying,
) -> AsyncPlan[Planned]:
    async def _plan() -> Result[Planned, ErrInfo]:
        opened = await store.ready()
        if isinstance(opened, Err):
            return Ok(each_source(opened.error, Stage.STORE, [d.source for d in docs]))
        todo = [
            d
            for d in docs
            if isinstance(d, Document) and not is_current(d, store.commits.get(d.source), ctx)
        ]
        if not todo:
            return Ok([Ok(SourcePlan(d.source, "unchanged")) for d in docs])
        desired = {d.source: (d, chunked(d)) for d in todo}
        sources = sorted(desired)
        reads = async_pure([]) if store.fresh else store_calls(store.index.chunks_of(sources))
        stored = await reads()
        if isinstance(stored, Err):
            return Ok(each_source(stored.error, Stage.STORE, [d.source for d in docs]))
        by_source: dict[str, list[ChunkRecord]] = {s: [] for s in sources}
        for rec in stored.value:
            by_source.setdefault(rec.source, []).append(rec)
        out: Planned = []
        for d in docs:
            if d.source not in desired:
                out.append(Ok(SourcePlan(d.source, "unchanged")))
                continue
            doc, records = desired[d.source]
            state = SourceState(
                store.commits.get(d.source),
                tuple(sorted(by_source[d.source], key=lambda r: r.id)),
            )
            out.append(Ok(plan_source(d.source, records, doc.version, state, ctx, doc.raw_hash)))
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
    plans: list[SourcePlan], *, cfg: RunConfig, reuse: VectorReuse | None = None
) -> AsyncPlan[EmbedOut]:
    """BatchMap stage: embed a group's new chunks in requests of ``embed_batch`` texts (and
    ``embed_max_chars`` characters) at most.

    With ``reuse`` (the ledger is the cache), a chunk whose content hash the collection holds
    for this embedder takes the stored vector, and a text the group holds twice is sent once:
    ``Ready.reused`` counts the chunks that were not sent. Each request is retried on its own
    (``cfg.embed_calls``: the embed op's retry and timeout, applied there and nowhere else),
    and the requests of a group run concurrently, at most ``cfg.embed_concurrency`` at once; a
    request that succeeded is never sent again. After a request fails for good no new one
    starts; the sources it (or a request not sent) covers fail, the group's others go on to be
    written. Cancelling the stage cancels the requests in flight.
    """
    records = [r for p in plans for r in p.embed]
    if cfg.dry_run or not records:
        return async_pure([Ok(Ready(p, ())) for p in plans])
    s = cfg.settings
    text_of = {r.chunk_hash: r.indexed_text for r in records}
    dim = cfg.embedder.identity.dim
    policy = BackpressurePolicy(max_concurrent=cfg.embed_concurrency, ordered=False)

    def request(part: list[str]) -> AsyncPlan[list[tuple[str, Vector]]]:
        step = cfg.embed_calls(cfg.embedder.embed([text_of[h] for h in part]))

        async def _one() -> Result[list[tuple[str, Vector]], ErrInfo]:
            got = await step()
            if isinstance(got, Err):
                return got
            if len(got.value) != len(part):
                msg = f"embedder returned {len(got.value)} vectors for {len(part)} texts"
                return Err(ErrInfo(codes.SERVICE_SPECIFIC, msg, Stage.EMBED))
            if any(len(v) != dim for v in got.value):
                msg = f"embedder returned vectors that are not {dim}-d"
                return Err(ErrInfo(codes.DIMENSION_MISMATCH, msg, Stage.EMBED))
            return Ok(list(zip(part, got.value, strict=True)))

        return _one

    async def _embed() -> Result[EmbedOut, ErrInfo]:
        vectors: dict[str, Vector] = {}  # chunk hash -> vector
        found: set[str] = set()  # hashes whose vector was reused (not sent by this group)
        if reuse is not None:
            known = await reuse.lookup(list(text_of))()
            if isinstance(known, Ok):
                for h, v in known.value.items():
                    if len(v) == dim:
                        vectors[h] = v
                        found.add(h)
        todo = [h for h in text_of if h not in vectors]
        spans = embed_batches([text_of[h] for h in todo], s.embed_batch, s.embed_max_chars)

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
                for h, v in r.value:
                    vectors[h] = v
                    if reuse is not None:
                        reuse.remember(h, v)
        finally:
            await close_stream(it)
        out: EmbedOut = []
        credited: set[str] = set()  # a text sent once is embedded for its first chunk only
        for p in plans:
            mine = [vectors.get(r.chunk_hash) for r in p.embed]
            ready = tuple(v for v in mine if v is not None)
            if len(ready) == len(mine):
                sent = {r.chunk_hash for r in p.embed} - found - credited
                credited |= sent
                out.append(Ok(Ready(p, ready, len(p.embed) - len(sent))))
            else:
                assert failed is not None
                out.append(at_source(failed, Stage.EMBED, p.source))
        return Ok(out)

    return _embed
