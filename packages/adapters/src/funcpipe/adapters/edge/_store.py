"""EdgeStore: the VectorStore on Qdrant Edge (qdrant-edge-py), the Qdrant engine in-process."""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeAlias, TypeVar

import qdrant_edge as qe
from funcpipe.adapters import _store_base as base
from funcpipe.adapters import vectors
from funcpipe.adapters.runtime import dedicated_executor, run_blocking
from funcpipe.adapters.vectors import Filter, Point, Record, ScoredPoint, SearchQuery, SparseVector
from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen

T = TypeVar("T")
_PointId: TypeAlias = int | uuid.UUID | str  # qdrant_edge.PointId (a stub-only name)

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


class _Fail(Exception):
    """An expected failure raised on the worker thread, carried out as an Err."""

    def __init__(self, code: str, msg: str, **ctx: object) -> None:
        super().__init__(msg)
        self.code = code
        self.ctx = ctx


def to_edge_filter(flt: Filter | None) -> qe.Filter | None:
    """Our Filter -> ``qdrant_edge.Filter`` (None for no or an empty filter)."""
    return None if flt is None or flt.is_empty else _edge_filter(flt)


def _edge_filter(flt: Filter) -> qe.Filter:
    def one(key: str, value: str | int) -> qe.ConditionType:
        return qe.FieldCondition(key=key, match=qe.MatchValue(value))

    def many(key: str, values: list[str] | list[int]) -> qe.ConditionType:
        return qe.FieldCondition(key=key, match=qe.MatchAny(values))

    must, must_not = base.filter_parts(flt, one, many)
    return qe.Filter(must=must, must_not=must_not)


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
    elif base.LOCKED.search(low):
        code = codes.STORE_LOCKED
    elif isinstance(exc, ValueError | TypeError) or "incompatible" in low:
        code = codes.INVALID_INPUT
    else:
        code = codes.DB_ERROR
    return ErrInfo.from_exception(
        exc, code=code, msg=f"edge {op} on {collection!r}: {text}"[:400], ctx=ctx
    )


class EdgeStore(base.StoreBase):
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
        max_batch_points: int = vectors.DEFAULT_MAX_BATCH_POINTS,
        max_batch_bytes: int = vectors.DEFAULT_MAX_BATCH_BYTES,
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

    def _ensure(self, spec: base.CollectionSpec) -> None:
        name, dim, distance, sparse = spec.name, spec.dim, spec.distance, spec.sparse
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
            named = vectors.check_sparse_names(name, self._sparse.get(name, frozenset()), sparse)
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
        for field_name, kind in spec.indexes.items():
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
        name = vectors.check_collection_name(collection) if collection else Ok(collection)
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

    def _ensure_plan(self, spec: base.CollectionSpec) -> AsyncPlan[None]:
        async def _run() -> Result[None, ErrInfo]:
            return await self._call("ensure_collection", spec.name, lambda: self._ensure(spec))

        return _run

    def _upsert_plan(self, collection: str, frozen: tuple[Point, ...]) -> AsyncPlan[int]:
        """One hop to the store's thread: validation, batching, building Edge's points and
        the writes all run there, never on the event loop."""

        def _work() -> Result[int, ErrInfo]:
            batches = vectors.checked_batches(
                collection,
                frozen,
                self._dim_on_worker(collection),
                self._sparse.get(collection, frozenset()),
                max_points=self._max_points,
                max_bytes=self._max_bytes,
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

    async def _delete_ids(self, collection: str, ids: list[str]) -> Result[None, ErrInfo]:
        return await self._update(
            "delete_ids", collection, qe.UpdateOperation.delete_points(list[_PointId](ids))
        )

    async def _delete_by_filter(self, collection: str, filter: Filter) -> Result[None, ErrInfo]:
        op = qe.UpdateOperation.delete_points_by_filter(_edge_filter(filter))
        return await self._update("delete_by_filter", collection, op)

    async def _update(
        self, op_name: str, collection: str, op: qe.UpdateOperation
    ) -> Result[None, ErrInfo]:
        def _write() -> None:
            self._shard(collection).update(op)
            self._dirty.add(collection)

        return await self._call(op_name, collection, _write)

    def _query_plan(self, collection: str, q: base.NearestQuery) -> AsyncPlan[list[ScoredPoint]]:
        """HNSW after ``optimize``, unless exact."""

        def _q() -> list[ScoredPoint]:
            checked = vectors.check_vector(q.vector, self._dim_on_worker(collection))
            if isinstance(checked, Err):
                e = checked.error
                raise _Fail(e.code, e.msg, **e.ctx)
            vec = checked.value
            if q.exact:
                params = qe.SearchParams(exact=True)
            elif self._search_ef is not None:
                params = qe.SearchParams(hnsw_ef=self._search_ef)
            else:
                params = None
            hits = self._shard(collection).query(
                qe.QueryRequest(
                    query=qe.Query.Nearest(vec),
                    limit=q.limit,
                    filter=to_edge_filter(q.filter),
                    with_payload=True,
                    with_vector=False,
                    params=params,
                )
            )
            return [ScoredPoint(str(h.id), float(h.score), dict(h.payload or {})) for h in hits]

        async def _run() -> Result[list[ScoredPoint], ErrInfo]:
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
            checked = vectors.check_search(
                collection, query, dim, self._sparse.get(collection, frozenset())
            )
            if isinstance(checked, Err):
                raise _Fail(checked.error.code, checked.error.msg, **checked.error.ctx)
            shard = self._shard(collection)
            total = int(shard.info().points_count) if base.needs_total(query) else 0
            sizes = base.search_sizes(query, total)
            out: list[ScoredPoint] = []
            for n in sizes:
                hits = [
                    ScoredPoint(str(h.id), float(h.score), dict(h.payload or {}))
                    for h in shard.query(_request(n))
                ]
                out = vectors.cap_groups(hits, query)
                if len(out) >= query.limit or len(hits) < n:
                    break
            return out

        async def _run() -> Result[list[ScoredPoint], ErrInfo]:
            return await self._call("search", collection, _s)

        return _run

    def _scroll(
        self, collection: str, filter: Filter | None, with_payload: bool, page_size: int
    ) -> AsyncGen[Record]:
        def _page(offset: _PointId | None) -> tuple[list[Record], _PointId | None]:
            records, nxt = self._shard(collection).scroll(
                qe.ScrollRequest(
                    offset=offset,
                    limit=page_size,
                    filter=to_edge_filter(filter),
                    with_payload=with_payload,
                    with_vector=False,
                )
            )
            out = [base.stored_record(r.id, r.payload, None, with_payload, False) for r in records]
            return out, nxt

        async def _fetch(
            offset: _PointId | None,
        ) -> Result[tuple[list[Record], _PointId | None], ErrInfo]:
            return await self._call("scroll", collection, lambda: _page(offset))

        return base.paged(_fetch, None)

    async def _retrieve(
        self, collection: str, wanted: list[str], with_payload: bool, with_vectors: bool
    ) -> Result[list[Record], ErrInfo]:
        """One hop."""

        def _read() -> list[Record]:
            recs = self._shard(collection).retrieve(
                list[_PointId](wanted), with_payload, with_vectors
            )
            got = [
                base.stored_record(r.id, r.payload, r.vector, with_payload, with_vectors)
                for r in recs
            ]
            return base.in_order(got, wanted)

        return await self._call("retrieve", collection, _read)

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
            return sorted(n for n in names if isinstance(vectors.check_collection_name(n), Ok))

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
            checked = vectors.check_collection_name(name)
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
