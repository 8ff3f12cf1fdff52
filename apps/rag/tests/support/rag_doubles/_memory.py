"""An in-memory VectorIndex (brute force): for tests and throwaway runs.

Searches mean what ``funcpipe.ports._search`` says (RRF over the ranked lists, the per-source
cap, the filter), with two simplifications: cosine is computed exactly, and a sparse list is
ranked by the plain dot product (no IDF modifier).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from funcpipe.adapters.vectors import ScoredPoint, SparseVector, cap_groups, rrf_fuse
from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe_rag.adapters import encoder, store_query
from funcpipe_rag.domain import (
    Bm25Params,
    ChunkRecord,
    CollectionInfo,
    CollectionStamp,
    CommitRecord,
    EmbeddedChunk,
    IndexQuery,
    SearchHit,
    StoredRecord,
    Vector,
    record_from_payload,
)


class MemoryIndex:
    """Points live in a dict: id -> (vector, payload). Counts every write call in ``writes``."""

    def __init__(self) -> None:
        self.points: dict[str, tuple[tuple[float, ...], dict[str, object]]] = {}
        self.sparse: dict[str, SparseVector] = {}
        self.has_sparse = False
        self.dim: int | None = None
        self.stamp: CollectionStamp | None = None
        self.writes = 0

    def info(self) -> AsyncPlan[CollectionInfo | None]:
        async def _run() -> Result[CollectionInfo | None, ErrInfo]:
            if self.dim is None and not self.points:
                return Ok(None)
            return Ok(CollectionInfo(self.stamp, self.dim))

        return _run

    def write_stamp(self, stamp: CollectionStamp) -> AsyncPlan[None]:
        async def _run() -> Result[None, ErrInfo]:
            self.stamp = stamp
            return Ok(None)

        return _run

    def ensure(self, dim: int, sparse: bool = False) -> AsyncPlan[None]:
        async def _run() -> Result[None, ErrInfo]:
            if self.dim is not None and self.dim != dim:
                msg = f"collection has dimension {self.dim}, the embedder makes {dim}"
                return Err(ErrInfo(codes.DIMENSION_MISMATCH, msg))
            if self.dim is not None and sparse and not self.has_sparse:
                return Err(ErrInfo(codes.INVALID_INPUT, "the collection has no sparse vector"))
            if self.dim is None:
                self.has_sparse = sparse
            self.dim = dim
            return Ok(None)

        return _run

    def _records(self) -> tuple[list[StoredRecord], list[str]]:
        recs: list[StoredRecord] = []
        bad: list[str] = []
        for pid, (_, payload) in sorted(self.points.items()):
            rec = record_from_payload(pid, payload)
            if rec is None:
                bad.append(pid)
            else:
                recs.append(rec)
        return recs, bad

    def commits(self) -> AsyncPlan[list[CommitRecord]]:
        async def _run() -> Result[list[CommitRecord], ErrInfo]:
            return Ok([r for r in self._records()[0] if isinstance(r, CommitRecord)])

        return _run

    def chunks_of(self, sources: Sequence[str]) -> AsyncPlan[list[ChunkRecord]]:
        wanted = set(sources)

        async def _run() -> Result[list[ChunkRecord], ErrInfo]:
            recs = self._records()[0]
            return Ok([r for r in recs if isinstance(r, ChunkRecord) and r.source in wanted])

        return _run

    def scan(self) -> AsyncPlan[tuple[list[StoredRecord], list[str]]]:
        async def _run() -> Result[tuple[list[StoredRecord], list[str]], ErrInfo]:
            return Ok(self._records())

        return _run

    def vectors(self, ids: Sequence[str]) -> AsyncPlan[dict[str, Vector]]:
        async def _run() -> Result[dict[str, Vector], ErrInfo]:
            return Ok({i: self.points[i][0] for i in ids if i in self.points})

        return _run

    def upsert_chunks(
        self, points: Sequence[EmbeddedChunk], bm25: Bm25Params | None = None
    ) -> AsyncPlan[None]:
        async def _run() -> Result[None, ErrInfo]:
            self.writes += 1
            texts = [p.record.indexed_text for p in points]
            sparse = encoder(bm25).documents(texts) if bm25 is not None else []
            for i, p in enumerate(points):
                self.points[p.record.id] = (tuple(p.vector), p.record.payload())
                if bm25 is not None:
                    self.sparse[p.record.id] = sparse[i]
            return Ok(None)

        return _run

    def upsert_commits(self, commits: Sequence[CommitRecord]) -> AsyncPlan[None]:
        async def _run() -> Result[None, ErrInfo]:
            self.writes += 1
            dim = self.dim or 1
            for c in commits:
                self.points[c.id] = (tuple([1.0] + [0.0] * (dim - 1)), c.payload())
            return Ok(None)

        return _run

    def delete(self, ids: Sequence[str]) -> AsyncPlan[None]:
        async def _run() -> Result[None, ErrInfo]:
            self.writes += 1
            for i in ids:
                self.points.pop(i, None)
                self.sparse.pop(i, None)
            return Ok(None)

        return _run

    def search(self, query: IndexQuery) -> AsyncPlan[list[SearchHit]]:
        async def _run() -> Result[list[SearchHit], ErrInfo]:
            if query.sources is not None and not query.sources:
                return Ok([])
            sq = store_query(query)
            flt = sq.filter
            live = [
                (pid, vec, payload)
                for pid, (vec, payload) in sorted(self.points.items())
                if flt is None or flt.matches(payload)
            ]
            lists: list[list[ScoredPoint]] = []
            for near in sq.prefetch:
                scored = [
                    ScoredPoint(pid, _score(near.vector, vec, self.sparse.get(pid)), payload)
                    for pid, vec, payload in live
                    if not isinstance(near.vector, SparseVector) or pid in self.sparse
                ]
                if isinstance(near.vector, SparseVector):  # only points sharing a term
                    scored = [h for h in scored if h.score > 0]
                scored.sort(key=lambda h: (-h.score, h.id))
                lists.append(scored[: near.limit] if sq.fused else scored)
            ranked = rrf_fuse(lists, sq.fusion) if sq.fused else lists[0]
            hits: list[SearchHit] = []
            for h in cap_groups(ranked, sq)[: sq.limit]:
                r = record_from_payload(h.id, h.payload)
                if isinstance(r, ChunkRecord):
                    hits.append(
                        SearchHit(
                            h.score, r.source, h.id, r.start, r.end, r.text, r.title, r.headings
                        )
                    )
            return Ok(hits)

        return _run


def _score(
    query: Sequence[float] | SparseVector, vec: Sequence[float], sparse: SparseVector | None
) -> float:
    if isinstance(query, SparseVector):
        weights = dict(zip(sparse.indices, sparse.values, strict=True)) if sparse else {}
        return sum(
            weights.get(i, 0.0) * v for i, v in zip(query.indices, query.values, strict=True)
        )
    qn = math.sqrt(sum(x * x for x in query)) or 1.0
    vn = math.sqrt(sum(x * x for x in vec)) or 1.0
    return sum(a * b for a, b in zip(query, vec, strict=False)) / (qn * vn)
