"""An in-memory VectorIndex (brute-force cosine): for tests and throwaway runs."""

from __future__ import annotations

import math
from collections.abc import Sequence

from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe_rag.domain import (
    ChunkRecord,
    CollectionInfo,
    CollectionStamp,
    CommitRecord,
    EmbeddedChunk,
    SearchHit,
    StoredRecord,
    Vector,
    record_from_payload,
)


class MemoryIndex:
    """Points live in a dict: id -> (vector, payload). Counts every write call in ``writes``."""

    def __init__(self) -> None:
        self.points: dict[str, tuple[tuple[float, ...], dict[str, object]]] = {}
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

    def ensure(self, dim: int) -> AsyncPlan[None]:
        async def _run() -> Result[None, ErrInfo]:
            if self.dim is not None and self.dim != dim:
                msg = f"collection has dimension {self.dim}, the embedder makes {dim}"
                return Err(ErrInfo(codes.DIMENSION_MISMATCH, msg))
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

    def upsert_chunks(self, points: Sequence[EmbeddedChunk]) -> AsyncPlan[None]:
        async def _run() -> Result[None, ErrInfo]:
            self.writes += 1
            for p in points:
                self.points[p.record.id] = (tuple(p.vector), p.record.payload())
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
            return Ok(None)

        return _run

    def search(self, vector: Vector, k: int) -> AsyncPlan[list[SearchHit]]:
        async def _run() -> Result[list[SearchHit], ErrInfo]:
            qn = math.sqrt(sum(x * x for x in vector)) or 1.0
            scored: list[tuple[float, str, ChunkRecord]] = []
            for pid, (vec, payload) in self.points.items():
                rec = record_from_payload(pid, payload)
                if not isinstance(rec, ChunkRecord):
                    continue
                vn = math.sqrt(sum(x * x for x in vec)) or 1.0
                score = sum(a * b for a, b in zip(vector, vec, strict=False)) / (qn * vn)
                scored.append((score, pid, rec))
            scored.sort(key=lambda t: (-t[0], t[1]))
            return Ok(
                [SearchHit(s, r.source, pid, r.start, r.end, r.text) for s, pid, r in scored[:k]]
            )

        return _run
