"""The app's VectorIndex over a ``funcpipe.adapters.vectors.VectorStore`` collection.

Chunk points carry the payload of ``ChunkRecord``; each source's commit marker is a point of
kind ``commit`` with a fixed unit vector; searches filter to ``kind == "chunk"``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import TypeVar

from funcpipe.adapters.vectors import (
    Filter,
    MatchValue,
    Nearest,
    Point,
    Record,
    Rrf,
    ScoredPoint,
    SearchQuery,
    VectorStore,
)
from funcpipe.async_plan import AsyncPlan, async_pure
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen, close_stream

from funcpipe_rag.domain import (
    KIND_CHUNK,
    KIND_COMMIT,
    SPARSE_NAME,
    STAMP_ID,
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

from ._sparse import Bm25Encoder

T = TypeVar("T")

PAYLOAD_INDEXES = {
    "source": "keyword",
    "kind": "keyword",
    "title": "keyword",
    "headings": "keyword",
    "doc_version": "keyword",
    "spec_hash": "keyword",
    "chunk_hash": "keyword",
}
"""Keyword indexes: the protocol's fields, every field ``--where`` filters on, and the chunk
hash (vector reuse looks stored chunks up by it)."""

PhaseObserver = Callable[[str, float], None]
"""Told each search phase's name and wall seconds (``stamp``, ``engine``, ``decode``)."""

UPSERT_SLICE = 32
"""Points per store call of ``upsert_chunks``: the store runs one call at a time, so a search
waits behind at most one slice of an ingest's batch, never the whole batch."""

SCROLL_PAGE = 256
"""Records per store call of a scan: a search waits behind one page of an ingest's scan."""

_CHUNKS = Filter(must={"kind": KIND_CHUNK})
_COMMITS = Filter(must={"kind": KIND_COMMIT})


async def _collect(gen: AsyncGen[Record]) -> Result[list[Record], ErrInfo]:
    out: list[Record] = []
    it: AsyncIterator[Result[Record, ErrInfo]] = gen()
    try:
        async for item in it:
            if isinstance(item, Err):
                return item
            out.append(item.value)
    finally:
        await close_stream(it)
    return Ok(out)


class StoreIndex:
    """Binds one collection of a library VectorStore to the app's ``VectorIndex`` port."""

    def __init__(
        self, store: VectorStore, collection: str, observe: PhaseObserver | None = None
    ) -> None:
        self._store = store
        self._collection = collection
        self._dim = 0
        self._observe = observe
        self._stamped: CollectionInfo | None = None

    def observed(self, observe: PhaseObserver) -> StoreIndex:
        """The same store and collection, for the searches of the one process that owns the
        store: ``info`` keeps the first stamped answer (a stamp changes only when the
        collection is dropped, which the owner does not do while serving), so a search makes
        one call to the store's thread instead of two; its ``info`` and ``search`` tell
        ``observe`` the wall time of their phases (``stamp``: the stamp read; ``engine``: the
        store's query, with BM25 query terms, fusion and any wait for the store's thread;
        ``decode``: hits from the store's points)."""
        return StoreIndex(self._store, self._collection, observe)

    def _tell(self, phase: str, since: float) -> None:
        if self._observe is not None:
            self._observe(phase, time.perf_counter() - since)

    @property
    def collection(self) -> str:
        return self._collection

    @property
    def store(self) -> VectorStore:
        """The library store under this index (for store-wide calls: list, drop)."""
        return self._store

    def on(self, collection: str) -> StoreIndex:
        """The same store bound to another collection."""
        return StoreIndex(self._store, collection)

    def count_commits(self) -> AsyncPlan[int]:
        """How many sources are committed (commit markers)."""
        return self._store.count(self._collection, _COMMITS)

    def count_chunks(self) -> AsyncPlan[int]:
        """How many chunk points the collection holds."""
        return self._store.count(self._collection, _CHUNKS)

    def ensure(self, dim: int, sparse: bool = False) -> AsyncPlan[None]:
        inner = self._store.ensure_collection(
            self._collection,
            dim,
            "cosine",
            PAYLOAD_INDEXES,  # type: ignore[arg-type]
            [SPARSE_NAME] if sparse else [],
        )

        async def _run() -> Result[None, ErrInfo]:
            res = await inner()
            if isinstance(res, Ok):
                self._dim = dim
            return res

        return _run

    def info(self) -> AsyncPlan[CollectionInfo | None]:
        inner = self._store.retrieve(self._collection, [STAMP_ID])

        async def _run() -> Result[CollectionInfo | None, ErrInfo]:
            t0 = time.perf_counter()
            if self._observe is not None and self._stamped is not None:
                self._tell("stamp", t0)
                return Ok(self._stamped)
            got = await inner()
            self._tell("stamp", t0)
            if isinstance(got, Err):
                return Ok(None) if got.error.code == codes.NOT_FOUND else got
            for r in got.value:
                stamp = CollectionStamp.from_payload(r.payload)
                dim = len(r.vector) if r.vector is not None else None
                info = CollectionInfo(stamp, dim)
                if stamp is not None:
                    self._dim = self._dim or stamp.embedder.dim
                    self._stamped = info
                return Ok(info)
            return Ok(CollectionInfo(None, None))

        return _run

    def write_stamp(self, stamp: CollectionStamp) -> AsyncPlan[None]:
        unit = [1.0] + [0.0] * (stamp.embedder.dim - 1)
        return self._upsert([Point(STAMP_ID, unit, stamp.payload())])

    def _records(self, flt: Filter | None) -> AsyncPlan[tuple[list[StoredRecord], list[str]]]:
        async def _run() -> Result[tuple[list[StoredRecord], list[str]], ErrInfo]:
            got = await _collect(self._store.scroll(self._collection, flt, page_size=SCROLL_PAGE))
            if isinstance(got, Err):
                return got
            recs: list[StoredRecord] = []
            bad: list[str] = []
            for r in got.value:
                if r.id == STAMP_ID:
                    continue
                rec = record_from_payload(r.id, r.payload)
                if rec is None:
                    bad.append(r.id)
                else:
                    recs.append(rec)
            return Ok((recs, bad))

        return _run

    def commits(self) -> AsyncPlan[list[CommitRecord]]:
        inner = self._records(_COMMITS)

        async def _run() -> Result[list[CommitRecord], ErrInfo]:
            got = await inner()
            if isinstance(got, Err):
                return got
            return Ok([r for r in got.value[0] if isinstance(r, CommitRecord)])

        return _run

    def chunks_of(self, sources: Sequence[str]) -> AsyncPlan[list[ChunkRecord]]:
        if not sources:
            return async_pure([])
        inner = self._records(Filter(must={"source": list(sources), "kind": KIND_CHUNK}))

        async def _run() -> Result[list[ChunkRecord], ErrInfo]:
            got = await inner()
            if isinstance(got, Err):
                return got
            return Ok([r for r in got.value[0] if isinstance(r, ChunkRecord)])

        return _run

    def scan(self) -> AsyncPlan[tuple[list[StoredRecord], list[str]]]:
        return self._records(None)

    def vectors(self, ids: Sequence[str]) -> AsyncPlan[dict[str, Vector]]:
        wanted = list(ids)
        inner = self._store.retrieve(self._collection, wanted, with_payload=False)

        async def _run() -> Result[dict[str, Vector], ErrInfo]:
            if not wanted:
                return Ok({})
            got = await inner()
            if isinstance(got, Err):
                return got
            return Ok({r.id: r.vector for r in got.value if r.vector is not None})

        return _run

    def vectors_by_hash(self, hashes: Sequence[str], embedder: str) -> AsyncPlan[dict[str, Vector]]:
        """A stored dense vector per chunk hash (one query for the ids, one for the vectors),
        of chunks written by ``embedder``; a hash nothing holds is left out."""
        wanted = list(hashes)

        async def _run() -> Result[dict[str, Vector], ErrInfo]:
            if not wanted:
                return Ok({})
            flt = Filter(must={"kind": KIND_CHUNK, "chunk_hash": wanted, "embedder": embedder})
            got = await _collect(self._store.scroll(self._collection, flt, page_size=1024))
            if isinstance(got, Err):
                return got
            by_hash: dict[str, str] = {}  # chunk hash -> one point id
            for r in got.value:
                h = r.payload.get("chunk_hash")
                if isinstance(h, str):
                    by_hash.setdefault(h, r.id)
            ids = {i: h for h, i in by_hash.items()}
            if not ids:
                return Ok({})
            vecs = await self._store.retrieve(self._collection, list(ids), with_payload=False)()
            if isinstance(vecs, Err):
                return vecs
            return Ok({ids[r.id]: r.vector for r in vecs.value if r.vector is not None})

        return _run

    def _upsert(self, points: list[Point]) -> AsyncPlan[None]:
        inner = self._store.upsert(self._collection, points)

        async def _run() -> Result[None, ErrInfo]:
            return (await inner()).map(lambda _: None)

        return _run

    def upsert_chunks(
        self, points: Sequence[EmbeddedChunk], bm25: Bm25Params | None = None
    ) -> AsyncPlan[None]:
        """Upsert chunk points, each with the BM25 vector of its ``indexed_text`` when
        ``bm25`` is given (computed when the plan runs), ``UPSERT_SLICE`` points per store call
        (searches interleave). A failed call stops the rest: the points of earlier calls stay
        written, as with the store's own batches."""
        frozen = list(points)

        async def _run() -> Result[None, ErrInfo]:
            sparse = (
                encoder(bm25).documents([p.record.indexed_text for p in frozen])
                if bm25 is not None
                else [None] * len(frozen)
            )
            built = [
                Point(
                    p.record.id,
                    p.vector,
                    p.record.payload(),
                    {} if sv is None else {SPARSE_NAME: sv},
                )
                for p, sv in zip(frozen, sparse, strict=True)
            ]
            for i in range(0, len(built), UPSERT_SLICE):
                done = await self._upsert(built[i : i + UPSERT_SLICE])()
                if isinstance(done, Err):
                    return done
            return Ok(None)

        return _run

    def upsert_commits(self, commits: Sequence[CommitRecord]) -> AsyncPlan[None]:
        dim = self._dim or 1
        unit = [1.0] + [0.0] * (dim - 1)
        return self._upsert([Point(c.id, unit, c.payload()) for c in commits])

    def delete(self, ids: Sequence[str]) -> AsyncPlan[None]:
        return self._store.delete_ids(self._collection, list(ids))

    def search(self, query: IndexQuery) -> AsyncPlan[list[SearchHit]]:
        """The best ``query.k`` chunk points under the per-source cap.

        The cap applies to the ranked candidates (``query.candidates`` from each list); when
        a few long sources fill them and fewer than ``k`` hits survive the cap, the search is
        asked again with four times the candidates (up to ``MAX_CANDIDATES``), as long as that
        finds more hits (a filter that leaves few sources stops it at once).
        """
        if query.sources is not None and not query.sources:
            return async_pure([])

        async def _run() -> Result[list[SearchHit], ErrInfo]:
            asked, before = query, -1
            t0 = time.perf_counter()
            while True:
                got = await self._store.search(self._collection, store_query(asked))()
                if isinstance(got, Err):
                    return got
                short = len(got.value) < query.k and query.per_source < query.k
                if not short or len(got.value) == before or asked.candidates >= MAX_CANDIDATES:
                    break
                before = len(got.value)
                asked = replace(asked, candidates=min(MAX_CANDIDATES, 4 * asked.candidates))
            self._tell("engine", t0)
            t1 = time.perf_counter()
            hits = [h for h in map(_hit, got.value) if h is not None]
            self._tell("decode", t1)
            return Ok(hits)

        return _run

    def count(self) -> AsyncPlan[int]:
        return self._store.count(self._collection)

    def optimize(self) -> AsyncPlan[bool]:
        return self._store.optimize(self._collection)

    def optimize_if_needed(self, unindexed_threshold: int) -> AsyncPlan[bool]:
        """Build the store's index when at least ``unindexed_threshold`` points are not indexed.

        Below that, a scan is as fast as the index (Edge: ~1.7 ms at 20k x 256-d), and the
        build would cost more than the ingest itself.
        """
        return self._store.optimize(self._collection, unindexed_threshold=unindexed_threshold)


MAX_CANDIDATES = 1000
"""The most candidates a search takes from each ranked list."""


def _hit(p: ScoredPoint) -> SearchHit | None:
    rec = record_from_payload(p.id, p.payload)
    if not isinstance(rec, ChunkRecord):
        return None
    return SearchHit(
        p.score,
        rec.source,
        p.id,
        rec.start,
        rec.end,
        rec.text,
        rec.title,
        rec.headings,
        rec.locator,
    )


@lru_cache(maxsize=8)
def encoder(params: Bm25Params) -> Bm25Encoder:
    """The BM25 encoder of these parameters (one per parameter set: it is stateless)."""
    return Bm25Encoder(params)


def store_query(query: IndexQuery) -> SearchQuery:
    """The store search of an app query: chunk points only, the ``where`` pairs (a repeated
    field matches any of its values) and ``sources``; one list, or dense and the BM25 terms of
    the query text fused by weighted RRF; capped per source."""
    must: dict[str, MatchValue] = {"kind": KIND_CHUNK}
    for name in dict.fromkeys(n for n, _ in query.where):
        values = [v for n, v in query.where if n == name]
        must[name] = values[0] if len(values) == 1 else values
    if query.sources is not None:
        must["source"] = list(query.sources)
    lists: list[Nearest] = []
    weights: list[float] = []
    if query.dense is not None:
        lists.append(Nearest(list(query.dense), None, query.candidates))
        weights.append(query.weights[0])
    if query.bm25 is not None:
        terms = encoder(query.bm25).query(query.text)
        lists.append(Nearest(terms, SPARSE_NAME, query.candidates))
        weights.append(query.weights[1])
    return SearchQuery(
        tuple(lists),
        Rrf(query.rrf_k, tuple(weights)),
        Filter(must=must),
        limit=query.k,
        # a cap of k or more cannot bind: no grouping (the store fetches only the top k)
        group_by="source" if query.per_source < query.k else None,
        group_size=min(query.per_source, query.k),
    )
