"""The query and verify descriptions."""

from __future__ import annotations

from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from funcpipe_rag.domain import (
    ChunkingConfig,
    CollectionStamp,
    Embedder,
    SearchHit,
    VectorIndex,
    VerifyReport,
    stamp_conflict,
    verify_records,
)

from ._types import STAGE_EMBED, STAGE_STORE


def search(
    index: VectorIndex, embedder: Embedder, query: str, k: int, collection: str = "funcpipe"
) -> AsyncPlan[list[SearchHit]]:
    """Embed ``query`` and return the ``k`` nearest chunks, best first.

    A collection stamped by another embedder is refused (stage ``config``), never searched.
    """

    async def _search() -> Result[list[SearchHit], ErrInfo]:
        if not query.strip():
            return Err(ErrInfo(codes.INVALID_INPUT, "the query is empty", stage="query"))
        info = await index.info()()
        if isinstance(info, Err):
            e = info.error
            return Err(ErrInfo(e.code, e.msg, STAGE_STORE, e.path, e.cause, e.ctx))
        if info.value is not None:
            want = CollectionStamp(embedder.identity, ChunkingConfig())
            conflict = stamp_conflict(collection, info.value, want, check_chunking=False)
            if conflict is not None:
                return Err(ErrInfo(codes.INVALID_INPUT, conflict, stage="config"))
        got = await embedder.embed([query])()
        if isinstance(got, Err):
            e = got.error
            return Err(ErrInfo(e.code, e.msg, STAGE_EMBED, e.path, e.cause, e.ctx))
        hits = await index.search(got.value[0], k)()
        if isinstance(hits, Err):
            e = hits.error
            return Err(ErrInfo(e.code, e.msg, STAGE_STORE, e.path, e.cause, e.ctx))
        return hits

    return _search


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
