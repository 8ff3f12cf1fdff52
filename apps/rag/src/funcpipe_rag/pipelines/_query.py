"""The query and verify descriptions."""

from __future__ import annotations

from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from funcpipe_rag.domain import (
    DENSE_ONLY,
    ChunkingConfig,
    CollectionStamp,
    Embedder,
    IndexQuery,
    SearchHit,
    SearchOptions,
    Stage,
    Vector,
    VectorIndex,
    VerifyReport,
    identity_mismatch,
    stamp_conflict,
    verify_records,
)

from ._manage import match_sources
from ._types import STAGE_EMBED, STAGE_STORE


def search(
    index: VectorIndex,
    embedder: Embedder,
    query: str,
    options: SearchOptions | int,
    collection: str = "funcpipe",
) -> AsyncPlan[list[SearchHit]]:
    """The best chunks for ``query``, best first, searched the way the collection's stamp says
    (dense: the embedded query; sparse: its BM25 terms; hybrid: both, fused by RRF), at most
    ``options.per_source`` (else the stamp's default) per source, filtered by the options.

    Errors: INVALID_INPUT for an empty query (stage ``query``) or a collection stamped by
    another embedder (stage ``config``: refused, never searched); the embedder's and the
    store's errors at stages ``embed`` and ``store``. A collection that does not exist yet
    answers nothing. An int ``options`` is ``SearchOptions(k=options)``.
    """
    options = options if isinstance(options, SearchOptions) else SearchOptions(k=options)

    async def _search() -> Result[list[SearchHit], ErrInfo]:
        if not query.strip():
            return Err(ErrInfo(codes.INVALID_INPUT, "the query is empty", stage=Stage.QUERY))
        info = await index.info()()
        if isinstance(info, Err):
            return _at(info.error, STAGE_STORE)
        config = DENSE_ONLY
        if info.value is not None:
            want = CollectionStamp(embedder.identity, ChunkingConfig())
            conflict = stamp_conflict(collection, info.value, want, check_chunking=False)
            if conflict is not None:
                return Err(identity_mismatch(conflict))
            if info.value.stamp is not None:
                config = info.value.stamp.search
        sources: tuple[str, ...] | None = None
        if options.source:
            listed = await index.commits()()
            if isinstance(listed, Err):
                return _at(listed.error, STAGE_STORE)
            sources = tuple(match_sources({c.source for c in listed.value}, options.source)[0])
        dense: Vector | None = None
        if config.dense:
            got = await embedder.embed([query])()
            if isinstance(got, Err):
                return _at(got.error, STAGE_EMBED)
            dense = got.value[0]
        request = IndexQuery(
            dense,
            query,
            config.bm25 if config.sparse else None,
            options.k,
            options.per_source or config.per_source,
            sources,
            options.where,
            config.rrf_k,
            config.weights,
            max(config.candidates, options.k),
        )
        hits = await index.search(request)()
        return _at(hits.error, STAGE_STORE) if isinstance(hits, Err) else hits

    return _search


def _at(e: ErrInfo, stage: str) -> Err[ErrInfo]:
    return Err(ErrInfo(e.code, e.msg, stage, e.path, e.cause, e.ctx))


def verify(
    index: VectorIndex, *, repair: bool = False, batch: int = 256
) -> AsyncPlan[tuple[VerifyReport, VerifyReport | None]]:
    """Check the store's invariants; with ``repair``, delete what breaks them and check again.

    Returns ``(found, after_repair)``; ``after_repair`` is None without ``repair``.
    """

    async def _scan() -> Result[VerifyReport, ErrInfo]:
        got = await index.scan()()
        if isinstance(got, Err):
            e = got.error
            return Err(ErrInfo(e.code, e.msg, STAGE_STORE, e.path, e.cause, e.ctx))
        records, corrupt = got.value
        return Ok(verify_records(records, corrupt))

    async def _verify() -> Result[tuple[VerifyReport, VerifyReport | None], ErrInfo]:
        found = await _scan()
        if isinstance(found, Err) or not repair or found.value.ok:
            return found.map(lambda r: (r, r if repair else None))
        ids = list(found.value.repair_deletes)
        for i in range(0, len(ids), batch):
            done = await index.delete(ids[i : i + batch])()
            if isinstance(done, Err):
                e = done.error
                return Err(ErrInfo(e.code, e.msg, STAGE_STORE, e.path, e.cause, e.ctx))
        after = await _scan()
        return after.map(lambda a: (found.value, a))

    return _verify
