"""EdgeStore: the VectorStore on Qdrant Edge (qdrant-edge-py), the Qdrant engine in-process."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import qdrant_edge as qe
from funcpipe.adapters.runtime import dedicated_executor, run_blocking
from funcpipe.adapters.vectors import (
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_BATCH_POINTS,
    Distance,
    Filter,
    PayloadIndexKind,
    Point,
    Record,
    ScoredPoint,
    SearchQuery,
    SparseVector,
    batch_points,
    cap_groups,
    check_collection_name,
    check_search,
    check_sparse_names,
    check_vector,
    fetch_sizes,
    normalise_id,
    normalise_ids,
    validate_points,
)
from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen

T = TypeVar("T")

_DISTANCE: dict[str, qe.Distance] = {
    "cosine": qe.Distance.Cosine,
    "dot": qe.Distance.Dot,
    "euclid": qe.Distance.Euclid,
}
_DISTANCE_NAME = {"Cosine": "cosine", "Dot": "dot", "Euclid": "euclid"}
_SCHEMA: dict[str, qe.PayloadSchemaType] = {
    "keyword": qe.PayloadSchemaType.Keyword,
    "integer": qe.PayloadSchemaType.Integer,
    "float": qe.PayloadSchemaType.Float,
    "bool": qe.PayloadSchemaType.Bool,
}
_NO_INDEXES: Mapping[str, PayloadIndexKind] = MappingProxyType({})


class _Fail(Exception):
    """An expected failure raised on the worker thread, carried out as an Err."""

    def __init__(self, code: str, msg: str, **ctx: object) -> None:
        super().__init__(msg)
        self.code = code
        self.ctx = ctx


_LOCKED = re.compile(r"\block(ed)?\b|wouldblock|already accessed")
"""A store already open elsewhere, as the engine words it (-> ``STORE_LOCKED``)."""


def to_edge_filter(flt: Filter | None) -> qe.Filter | None:
    """Our Filter -> ``qdrant_edge.Filter`` (None for no or an empty filter)."""
    if flt is None or flt.is_empty:
        return None

    def cond(key: str, value: object) -> qe.FieldCondition:
        if isinstance(value, str | int):
            return qe.FieldCondition(key=key, match=qe.MatchValue(value))
        assert isinstance(value, Sequence)
        return qe.FieldCondition(key=key, match=qe.MatchAny(list(value)))

    return qe.Filter(
        must=[cond(k, v) for k, v in flt.must.items()] or None,
        must_not=[cond(k, v) for k, v in flt.must_not.items()] or None,
    )


def _edge_query(vector: Sequence[float] | SparseVector) -> list[float] | qe.SparseVector:
    if isinstance(vector, SparseVector):
        return qe.SparseVector(list(vector.indices), list(vector.values))
    return list(vector)


def _edge_vector(dense: list[float], sparse: Mapping[str, SparseVector]) -> qe.Vector:
    """A point's vectors as Edge takes them: the bare dense list, or a dict with ``""``."""
    if not sparse:
        return dense
    named: dict[str, qe.NamedVector] = {"": dense}
    for name, v in sparse.items():
        named[name] = qe.SparseVector(list(v.indices), list(v.values))
    return named


def edge_error(exc: BaseException, op: str, collection: str) -> ErrInfo:
    """Qdrant Edge exceptions (plain ``Exception`` with a message) -> ErrInfo."""
    ctx: dict[str, object] = {"op": op, "collection": collection}
    if isinstance(exc, _Fail):
        return ErrInfo(
            exc.code, f"edge {op} on {collection!r}: {exc}", cause=exc, ctx={**ctx, **exc.ctx}
        )
    text = str(exc)
    low = text.lower()
    if "dimension error" in low or "vector size" in low:
        code = codes.DIMENSION_MISMATCH
    elif _LOCKED.search(low):
        code = codes.STORE_LOCKED
    elif isinstance(exc, ValueError | TypeError) or "incompatible" in low:
        code = codes.INVALID_INPUT
    else:
        code = codes.DB_ERROR
    return ErrInfo.from_exception(
        exc, code=code, msg=f"edge {op} on {collection!r}: {text}"[:400], ctx=ctx
    )


class EdgeStore:
    """A ``VectorStore`` on Qdrant Edge: one shard directory per collection under ``root``.

    - Every blocking Edge call runs on this store's one dedicated thread, in order, so the
      event loop never blocks and a shard is never used from two threads at once.
    - Shards are opened lazily (``ensure_collection``, or the first operation on an existing
      collection) and stay open until ``close()``, which flushes and closes them. A shard
      directory can be open in one store at a time (Edge locks its WAL). Only shards written
      since their last flush are flushed on close (every write is in the WAL first anyway).
    - Upserts are visible at once but are not indexed: call ``optimize(collection)`` after a
      bulk load so queries use HNSW instead of a scan (``optimize`` returns whether anything
      changed). The HNSW knobs (``hnsw_m``, ``ef_construct``, ``full_scan_threshold_kb``,
      ``indexing_threshold_kb``, ``search_ef``; unset -> Qdrant's defaults m=16,
      ef_construct=100, full_scan_threshold 10,000 KB) apply to new collections / queries.
    - Errors: see ``VectorStore``. Edge raises plain exceptions; their messages are mapped
      (dimension errors -> DIMENSION_MISMATCH, incompatible config -> INVALID_INPUT, the rest
      -> DB_ERROR). Use after ``close()`` -> DB_ERROR.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        hnsw_m: int | None = None,
        ef_construct: int | None = None,
        full_scan_threshold_kb: int | None = None,
        indexing_threshold_kb: int | None = None,
        search_ef: int | None = None,
        max_batch_points: int = DEFAULT_MAX_BATCH_POINTS,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
    ) -> None:
        self._root = Path(root)
        self._hnsw = (hnsw_m, ef_construct, full_scan_threshold_kb)
        self._indexing_threshold_kb = indexing_threshold_kb
        self._search_ef = search_ef
        self._max_points = max_batch_points
        self._max_bytes = max_batch_bytes
        self._executor = dedicated_executor("funcpipe-edge")
        self._shards: dict[str, qe.EdgeShard] = {}
        self._meta: dict[str, tuple[int, str]] = {}  # collection -> (dim, distance)
        self._sparse: dict[str, frozenset[str]] = {}  # collection -> its sparse vector names
        self._dirty: set[str] = set()  # written since the last flush (only these are flushed)
        self._closed = threading.Event()

    @property
    def root(self) -> Path:
        """The directory holding one shard directory per collection."""
        return self._root

    # ---- worker-thread helpers (only ever called on the dedicated thread) ----

    def _config(self, dim: int, distance: str, sparse: Sequence[str]) -> qe.EdgeConfig:
        m, ef, fst = self._hnsw
        hnsw = (
            qe.HnswIndexConfig(
                m=16 if m is None else m,
                ef_construct=100 if ef is None else ef,
                full_scan_threshold=10_000 if fst is None else fst,
            )
            if any(x is not None for x in self._hnsw)
            else None
        )
        opt = (
            qe.EdgeOptimizersConfig(indexing_threshold=self._indexing_threshold_kb)
            if self._indexing_threshold_kb is not None
            else None
        )
        return qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=dim, distance=_DISTANCE[distance]),
            sparse_vectors={n: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf) for n in sparse}
            or None,
            hnsw_config=hnsw,
            optimizers=opt,
        )

    def _read_meta(self, path: Path) -> tuple[int, str, frozenset[str]] | None:
        try:
            doc = json.loads((path / "edge_config.json").read_text())
            vec = doc["vectors"][""]
            sparse = frozenset(str(k) for k in (doc.get("sparse_vectors") or {}))
            return int(vec["size"]), _DISTANCE_NAME.get(str(vec["distance"]), "cosine"), sparse
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def _shard(self, name: str) -> qe.EdgeShard:
        if self._closed.is_set():
            raise _Fail(codes.DB_ERROR, "store is closed")
        shard = self._shards.get(name)
        if shard is not None:
            return shard
        path = self._root / name
        if not (path / "segments").is_dir():
            raise _Fail(codes.NOT_FOUND, f"collection {name!r} does not exist under {self._root}")
        shard = qe.EdgeShard.load(str(path))
        self._shards[name] = shard
        meta = self._read_meta(path)
        if meta is not None:
            self._meta[name] = meta[:2]
            self._sparse[name] = meta[2]
        return shard

    def _ensure(
        self,
        name: str,
        dim: int,
        distance: str,
        indexes: Mapping[str, PayloadIndexKind],
        sparse: Sequence[str],
    ) -> None:
        if self._closed.is_set():
            raise _Fail(codes.DB_ERROR, "store is closed")
        path = self._root / name
        if name not in self._shards and (path / "segments").is_dir():
            self._shard(name)
        if name in self._shards:
            have = self._meta.get(name)
            if have is not None and have[0] != dim:
                raise _Fail(
                    codes.DIMENSION_MISMATCH, f"has {have[0]} dims, not {dim}", expected_dim=have[0]
                )
            if have is not None and have[1] != distance:
                raise _Fail(codes.INVALID_INPUT, f"uses {have[1]} distance, not {distance}")
            named = check_sparse_names(name, self._sparse.get(name, frozenset()), sparse)
            if isinstance(named, Err):
                raise _Fail(named.error.code, named.error.msg, **named.error.ctx)
            shard = self._shards[name]
        else:
            path.mkdir(parents=True, exist_ok=True)
            shard = qe.EdgeShard.create(str(path), self._config(dim, distance, sparse))
            self._shards[name] = shard
            self._meta[name] = (dim, distance)
            self._sparse[name] = frozenset(sparse)
            self._dirty.add(name)
        existing = shard.info().payload_schema
        for field_name, kind in indexes.items():
            if field_name not in existing:
                shard.update(qe.UpdateOperation.create_field_index(field_name, _SCHEMA[kind]))
                self._dirty.add(name)

    def _close_all(self) -> None:
        self._closed.set()
        shards, self._shards = dict(self._shards), {}
        for name, shard in shards.items():
            if name in self._dirty:  # nothing written since the last flush: nothing to flush
                shard.flush()
            shard.close()
        self._dirty.clear()

    # ---- plans ----

    async def _call(self, op: str, collection: str, fn: Callable[[], T]) -> Result[T, ErrInfo]:
        name = check_collection_name(collection) if collection else Ok(collection)
        if isinstance(name, Err):
            return name
        if self._closed.is_set():
            return Err(ErrInfo(codes.DB_ERROR, f"edge {op}: store is closed", ctx={"op": op}))
        try:
            return Ok(await run_blocking(fn, executor=self._executor))
        except Exception as exc:
            return Err(edge_error(exc, op, collection))

    def _dim_on_worker(self, collection: str) -> int | None:
        self._shard(collection)
        meta = self._meta.get(collection)
        return meta[0] if meta else None

    def ensure_collection(
        self,
        name: str,
        dim: int,
        distance: Distance = "cosine",
        payload_indexes: Mapping[str, PayloadIndexKind] = _NO_INDEXES,
        sparse_vectors: Sequence[str] = (),
    ) -> AsyncPlan[None]:
        """Create or open the collection; check dimension, distance and sparse vectors (IDF
        modifier); add payload indexes."""
        if dim < 1 or distance not in _DISTANCE:
            raise ValueError(f"ensure_collection: bad dim {dim} or distance {distance!r}")
        indexes = dict(payload_indexes)
        sparse = tuple(sparse_vectors)

        async def _run() -> Result[None, ErrInfo]:
            return await self._call(
                "ensure_collection",
                name,
                lambda: self._ensure(name, dim, distance, indexes, sparse),
            )

        return _run

    def upsert(self, collection: str, points: Sequence[Point]) -> AsyncPlan[int]:
        """Upsert ``points`` in batches; Ok(number of points written).

        One hop to the store's thread: validation, batching, building Edge's points and the
        writes all run there, never on the event loop. A failed batch -> Err with
        ``ctx["written"]`` (points of earlier batches, which stay written).
        """
        frozen = tuple(points)
        return self._write_points(collection, frozen)

    def _write_points(self, collection: str, frozen: tuple[Point, ...]) -> AsyncPlan[int]:
        def _work() -> Result[int, ErrInfo]:
            dim = self._dim_on_worker(collection)
            checked = validate_points(frozen, dim, self._sparse.get(collection, frozenset()))
            if isinstance(checked, Err):
                return Err(checked.error.with_ctx(collection=collection))
            batches = batch_points(
                checked.value, max_points=self._max_points, max_bytes=self._max_bytes
            )
            if isinstance(batches, Err):
                return batches
            shard = self._shard(collection)
            done = 0
            for batch in batches.value:
                try:
                    op = qe.UpdateOperation.upsert_points(
                        [qe.Point(p.id, _edge_vector(p.vector, p.sparse), p.payload) for p in batch]
                    )
                    shard.update(op)
                except Exception as exc:
                    return Err(edge_error(exc, "upsert", collection).with_ctx(written=done))
                self._dirty.add(collection)
                done += len(batch)
            return Ok(done)

        async def _run() -> Result[int, ErrInfo]:
            res = await self._call("upsert", collection, _work)
            return res.and_then(lambda inner: inner)

        return _run

    def delete_ids(self, collection: str, ids: Sequence[str]) -> AsyncPlan[None]:
        """Delete points by id (unknown ids are ignored)."""
        raw = tuple(ids)

        async def _run() -> Result[None, ErrInfo]:
            norm: list[str] = []
            for i in raw:
                n = normalise_id(i)
                if isinstance(n, Err):
                    return n
                norm.append(n.value)
            if not norm:
                return Ok(None)
            op = qe.UpdateOperation.delete_points(list[int | uuid.UUID | str](norm))

            def _delete() -> None:
                self._shard(collection).update(op)
                self._dirty.add(collection)

            return await self._call("delete_ids", collection, _delete)

        return _run

    def delete_by_filter(self, collection: str, filter: Filter) -> AsyncPlan[None]:
        """Delete every point matching ``filter`` (an empty filter is refused)."""

        async def _run() -> Result[None, ErrInfo]:
            ef = to_edge_filter(filter)
            if ef is None:
                return Err(
                    ErrInfo(
                        codes.INVALID_INPUT,
                        "delete_by_filter: empty filter would delete every point",
                        ctx={"collection": collection},
                    )
                )
            op = qe.UpdateOperation.delete_points_by_filter(ef)

            def _delete() -> None:
                self._shard(collection).update(op)
                self._dirty.add(collection)

            return await self._call("delete_by_filter", collection, _delete)

        return _run

    def query(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        filter: Filter | None = None,
        limit: int = 10,
        exact: bool = False,
    ) -> AsyncPlan[list[ScoredPoint]]:
        """Nearest points to ``vector``, best first (HNSW after ``optimize``, unless exact)."""
        frozen = tuple(vector)

        def _q() -> list[ScoredPoint]:
            checked = check_vector(frozen, self._dim_on_worker(collection))
            if isinstance(checked, Err):
                e = checked.error
                raise _Fail(e.code, e.msg, **e.ctx)
            vec = checked.value
            if exact:
                params = qe.SearchParams(exact=True)
            elif self._search_ef is not None:
                params = qe.SearchParams(hnsw_ef=self._search_ef)
            else:
                params = None
            hits = self._shard(collection).query(
                qe.QueryRequest(
                    query=qe.Query.Nearest(vec),
                    limit=limit,
                    filter=to_edge_filter(filter),
                    with_payload=True,
                    with_vector=False,
                    params=params,
                )
            )
            return [ScoredPoint(str(h.id), float(h.score), dict(h.payload or {})) for h in hits]

        async def _run() -> Result[list[ScoredPoint], ErrInfo]:
            if limit < 1:
                return Err(ErrInfo(codes.INVALID_INPUT, f"query: limit must be >= 1, got {limit}"))
            return await self._call("query", collection, _q)  # one hop to the worker

        return _run

    def search(self, collection: str, query: SearchQuery) -> AsyncPlan[list[ScoredPoint]]:
        """Run ``query`` (see ``funcpipe.ports._search``): one list is a nearest query; several
        are Edge prefetches fused by ``Fusion.Rrf``. Edge has no grouping: a capped query asks
        for more ranked hits until the cap fills ``limit`` (all fused candidates when fused)."""

        def _request(limit: int) -> qe.QueryRequest:
            flt = to_edge_filter(query.filter)
            params = qe.SearchParams(hnsw_ef=self._search_ef) if self._search_ef else None
            if not query.fused:
                only = query.prefetch[0]
                return qe.QueryRequest(
                    query=qe.Query.Nearest(_edge_query(only.vector), using=only.using),
                    limit=limit,
                    filter=flt,
                    with_payload=True,
                    with_vector=False,
                    params=params,
                )
            pre = [
                qe.Prefetch(
                    limit=n.limit,
                    query=qe.Query.Nearest(_edge_query(n.vector), using=n.using),
                    filter=flt,
                    params=params,
                )
                for n in query.prefetch
            ]
            w = query.fusion.weights
            return qe.QueryRequest(
                prefetches=pre,
                # the stub's ScoringQueryType names Fusion, not its nested Rrf class
                query=qe.Fusion.Rrf(k=query.fusion.k, weights=list(w) if w else None),  # type: ignore[arg-type]
                limit=limit,
                filter=flt,
                with_payload=True,
                with_vector=False,
            )

        def _s() -> list[ScoredPoint]:
            dim = self._dim_on_worker(collection)
            checked = check_search(
                collection, query, dim, self._sparse.get(collection, frozenset())
            )
            if isinstance(checked, Err):
                raise _Fail(checked.error.code, checked.error.msg, **checked.error.ctx)
            shard = self._shard(collection)
            if query.fused:
                sizes = [query.candidates if query.group_by else query.limit]
            else:
                sizes = fetch_sizes(query, int(shard.info().points_count))
            out: list[ScoredPoint] = []
            for n in sizes:
                hits = [
                    ScoredPoint(str(h.id), float(h.score), dict(h.payload or {}))
                    for h in shard.query(_request(n))
                ]
                out = cap_groups(hits, query)
                if len(out) >= query.limit or len(hits) < n:
                    break
            return out

        async def _run() -> Result[list[ScoredPoint], ErrInfo]:
            return await self._call("search", collection, _s)

        return _run

    def scroll(
        self,
        collection: str,
        filter: Filter | None = None,
        *,
        with_payload: bool = True,
        page_size: int = 256,
    ) -> AsyncGen[Record]:
        """Every matching point once, page by page (ordered by id). A failing page gives one
        Err and ends the stream."""
        if page_size < 1:
            raise ValueError(f"scroll: page_size must be >= 1, got {page_size}")

        def _page(offset: Any) -> tuple[list[Record], Any]:
            records, nxt = self._shard(collection).scroll(
                qe.ScrollRequest(
                    offset=offset,
                    limit=page_size,
                    filter=to_edge_filter(filter),
                    with_payload=with_payload,
                    with_vector=False,
                )
            )
            out = [
                Record(str(r.id), dict(r.payload or {}) if with_payload else {}) for r in records
            ]
            return out, nxt

        async def _gen() -> AsyncIterator[Result[Record, ErrInfo]]:
            offset: Any = None
            while True:

                def _next(off: Any = offset) -> tuple[list[Record], Any]:
                    return _page(off)

                res = await self._call("scroll", collection, _next)
                if isinstance(res, Err):
                    yield res
                    return
                records, offset = res.value
                for r in records:
                    yield Ok(r)
                if offset is None:
                    return

        return _gen

    def retrieve(
        self,
        collection: str,
        ids: Sequence[str],
        *,
        with_payload: bool = True,
        with_vectors: bool = True,
    ) -> AsyncPlan[list[Record]]:
        """The stored points of ``ids`` in the order asked (unknown ids left out), one hop."""
        raw = tuple(ids)

        def _read(wanted: list[str]) -> list[Record]:
            recs = self._shard(collection).retrieve(
                list[int | uuid.UUID | str](wanted), with_payload, with_vectors
            )
            found: dict[str, Record] = {}
            for r in recs:
                vec: object = r.vector
                if isinstance(vec, dict):
                    vec = vec.get("")
                found[str(r.id)] = Record(
                    str(r.id),
                    dict(r.payload or {}) if with_payload else {},
                    list(vec) if with_vectors and isinstance(vec, list) else None,
                )
            return [found[i] for i in wanted if i in found]

        async def _run() -> Result[list[Record], ErrInfo]:
            norm = normalise_ids(raw)
            if isinstance(norm, Err):
                return Err(norm.error.with_ctx(collection=collection))
            wanted = norm.value
            return await self._call("retrieve", collection, lambda: _read(wanted))

        return _run

    def count(self, collection: str, filter: Filter | None = None) -> AsyncPlan[int]:
        """Exact number of points matching ``filter``."""

        def _count() -> int:
            n: int = self._shard(collection).count(
                qe.CountRequest(exact=True, filter=to_edge_filter(filter))
            )
            return n

        async def _run() -> Result[int, ErrInfo]:
            return await self._call("count", collection, _count)

        return _run

    def optimize(self, collection: str, *, unindexed_threshold: int = 0) -> AsyncPlan[bool]:
        """Run Edge's optimisers (build HNSW over unindexed points), then flush; Ok(changed).
        With fewer than ``unindexed_threshold`` unindexed points nothing is built (a scan is
        then as fast as the index).

        Blocking work of seconds for tens of thousands of points (on the store's thread).
        """

        def _opt() -> bool:
            shard = self._shard(collection)
            if unindexed_threshold > 0:
                info = shard.info()
                if int(info.points_count) - int(info.indexed_vectors_count) < unindexed_threshold:
                    return False
            changed = bool(shard.optimize())
            shard.flush()
            self._dirty.discard(collection)
            return changed

        async def _run() -> Result[bool, ErrInfo]:
            return await self._call("optimize", collection, _opt)

        return _run

    def indexed_vectors(self, collection: str) -> AsyncPlan[tuple[int, int]]:
        """Ok((indexed vectors, points)): equal (about) after ``optimize`` -> HNSW in use."""

        def _info() -> tuple[int, int]:
            info = self._shard(collection).info()
            return int(info.indexed_vectors_count), int(info.points_count)

        async def _run() -> Result[tuple[int, int], ErrInfo]:
            return await self._call("info", collection, _info)

        return _run

    def list_collections(self) -> AsyncPlan[list[str]]:
        """Every shard directory under ``root`` (a folder holding ``segments/``), sorted."""

        def _list() -> list[str]:
            if self._closed.is_set():
                raise _Fail(codes.DB_ERROR, "store is closed")
            if not self._root.is_dir():
                return []
            names = (p.name for p in self._root.iterdir() if (p / "segments").is_dir())
            return sorted(n for n in names if isinstance(check_collection_name(n), Ok))

        async def _run() -> Result[list[str], ErrInfo]:
            return await self._call("list_collections", "", _list)

        return _run

    def drop_collection(self, name: str) -> AsyncPlan[bool]:
        """Close the shard (if open) and delete its directory; Ok(False) when there was none."""

        def _drop() -> bool:
            if self._closed.is_set():
                raise _Fail(codes.DB_ERROR, "store is closed")
            shard = self._shards.pop(name, None)
            if shard is not None:
                shard.close()
            self._meta.pop(name, None)
            self._dirty.discard(name)
            path = self._root / name
            if not path.exists():
                return False
            shutil.rmtree(path)
            return True

        async def _run() -> Result[bool, ErrInfo]:
            checked = check_collection_name(name)
            if isinstance(checked, Err):
                return checked
            return await self._call("drop_collection", name, _drop)

        return _run

    def close(self) -> AsyncPlan[None]:
        """Flush and close every open shard and stop the worker thread (idempotent)."""

        async def _run() -> Result[None, ErrInfo]:
            if self._closed.is_set():
                return Ok(None)
            try:
                await run_blocking(self._close_all, executor=self._executor)
            except Exception as exc:
                return Err(edge_error(exc, "close", ""))
            finally:
                self._executor.shutdown(wait=False)
            return Ok(None)

        return _run
