"""The write stage: a group's changed sources written by the protocol of rag-app.md (upsert
the new points, delete the stale ones, then the commit markers; markers of deleted sources
last), each store call retried on its own; what no source owns halts the run."""

from __future__ import annotations

from collections.abc import Sequence

from funcpipe.async_plan import AsyncPlan, async_pure
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from funcpipe_rag.domain import (
    NO_SPACE,
    Bm25Params,
    EmbeddedChunk,
    Room,
    Stage,
    Vector,
    VectorIndex,
    space_needed,
)

from ._session import RunConfig, StoreSession
from ._settings import ONCE, Retrying
from ._stages import each_source
from ._types import Halt, Outcome, Ready


def write_group(
    index: VectorIndex,
    group: Sequence[Ready],
    upsert_batch: int,
    store_calls: Retrying = ONCE,
    room: Room | None = None,
    bm25: Bm25Params | None = None,
) -> AsyncPlan[list[Outcome]]:
    """Write a group of sources by the protocol; ``Ok`` only when every step succeeded, else
    the failed step's ``Err`` (stage ``store``; the caller knows which sources it wrote).
    With ``bm25``, every upserted chunk gets its BM25 vector (computed by the index from its
    text, so a point whose dense vector is reused gets the same sparse vector as a fresh one).

    Each store call is retried on its own by ``store_calls`` (every write is an idempotent
    upsert or delete by stable id). ``room`` is asked first whether the points fit on the
    disk (``Err(NO_SPACE)``: nothing of the group is written).
    """

    def fail(e: ErrInfo) -> Err[ErrInfo]:
        return Err(ErrInfo(e.code, e.msg, Stage.STORE, e.path, e.cause, e.ctx))

    async def _write() -> Result[list[Outcome], ErrInfo]:
        rewrite = [rec for r in group for rec in r.plan.rewrite]
        stored: dict[str, Vector] = {}
        for i in range(0, len(rewrite), upsert_batch):
            ids = [rec.id for rec in rewrite[i : i + upsert_batch]]
            got = await store_calls(index.vectors(ids))()
            if isinstance(got, Err):
                return fail(got.error)
            stored.update(got.value)
        missing = [rec.id for rec in rewrite if rec.id not in stored]
        if missing:
            msg = f"{len(missing)} stored point(s) vanished during the run; run ingest again"
            return Err(ErrInfo(codes.DB_ERROR, msg, Stage.STORE))
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
            up = await store_calls(index.upsert_chunks(points[i : i + upsert_batch], bm25))()
            if isinstance(up, Err):
                return fail(up.error)
        stale = [i for r in group for i in r.plan.delete]
        for i in range(0, len(stale), upsert_batch):
            de = await store_calls(index.delete(stale[i : i + upsert_batch]))()
            if isinstance(de, Err):
                return fail(de.error)
        commits = [r.plan.commit for r in group if r.plan.commit is not None]
        if commits:
            cm = await store_calls(index.upsert_commits(commits))()
            if isinstance(cm, Err):
                return fail(cm.error)
        gone = [r.plan.delete_commit for r in group if r.plan.delete_commit is not None]
        if gone:
            dm = await store_calls(index.delete(gone))()
            if isinstance(dm, Err):
                return fail(dm.error)
        return Ok([Outcome.of(r.plan, r.reused) for r in group])

    return _write


Written = list[Result[Outcome | Halt, ErrInfo]]
"""What writing a group gives: per source, its outcome or why it failed; a ``Halt`` when the
run cannot go on."""


def write_sources(group: list[Ready], *, store: StoreSession, cfg: RunConfig) -> AsyncPlan[Written]:
    """BatchMap stage: write a group's changed sources by the protocol (``write_group``),
    after making the store writable. A failed group fails each of its changed sources (an
    ``Err`` at its key); a store that cannot be made writable, or a full disk, also halts the
    run (a ``Halt`` after them)."""
    busy = [r for r in group if not r.plan.is_noop]
    if cfg.dry_run or not busy:
        return async_pure([Ok(Outcome.of(r.plan)) for r in group])
    idle: Written = [Ok(Outcome.of(r.plan)) for r in group if r.plan.is_noop]
    sources = [r.plan.source for r in busy]

    async def _write() -> Result[Written, ErrInfo]:
        ready = await store.writable(cfg)
        if isinstance(ready, Err):
            return Ok(
                [*idle, *each_source(ready.error, Stage.STORE, sources), Ok(Halt(ready.error))]
            )
        s = cfg.settings
        res = await write_group(
            store.index, busy, s.upsert_batch, cfg.store_calls, cfg.room, cfg.bm25
        )()
        if isinstance(res, Err):
            halt: Written = [Ok(Halt(res.error))] if res.error.code == NO_SPACE else []
            return Ok([*idle, *each_source(res.error, Stage.STORE, sources), *halt])
        return Ok([*idle, *(Ok(o) for o in res.value)])

    return _write
