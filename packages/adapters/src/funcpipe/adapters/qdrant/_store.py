"""QdrantStore: the VectorStore on qdrant-client's AsyncQdrantClient (server, cluster or local)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

import httpx
from funcpipe.adapters import _store_base as base
from funcpipe.adapters import vectors
from funcpipe.adapters.http import code_for_status, safe_url
from funcpipe.adapters.vectors import Filter, Point, Record, ScoredPoint, SearchQuery, SparseVector
from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

T = TypeVar("T")

_DISTANCE: dict[str, models.Distance] = {
    "cosine": models.Distance.COSINE,
    "dot": models.Distance.DOT,
    "euclid": models.Distance.EUCLID,
}
_SCHEMA: dict[str, models.PayloadSchemaType] = {
    "keyword": models.PayloadSchemaType.KEYWORD,
    "integer": models.PayloadSchemaType.INTEGER,
    "float": models.PayloadSchemaType.FLOAT,
    "bool": models.PayloadSchemaType.BOOL,
}


def to_qdrant_filter(flt: Filter | None) -> models.Filter | None:
    """Our Filter -> ``models.Filter`` (None for no or an empty filter)."""
    return None if flt is None or flt.is_empty else _qdrant_filter(flt)


def _qdrant_filter(flt: Filter) -> models.Filter:
    def one(key: str, value: str | int) -> models.Condition:
        return models.FieldCondition(key=key, match=models.MatchValue(value=value))

    def many(key: str, values: list[str] | list[int]) -> models.Condition:
        return models.FieldCondition(key=key, match=models.MatchAny(any=values))

    must, must_not = base.filter_parts(flt, one, many)
    return models.Filter(must=must, must_not=must_not)


def qdrant_error(exc: BaseException, op: str, collection: str) -> ErrInfo:
    """qdrant-client exceptions -> ErrInfo (ctx: ``op``, ``collection``, ``status``)."""
    ctx: dict[str, object] = {"op": op, "collection": collection}
    text = str(exc)
    if isinstance(exc, UnexpectedResponse):
        status = exc.status_code or 0
        ctx["status"] = status
        body = exc.content.decode("utf-8", "replace")[:300]
        code = code_for_status(status)
        if status == 400 and "dimension" in body.lower():
            code = codes.DIMENSION_MISMATCH
        elif code == codes.SERVICE_SPECIFIC:
            code = codes.DB_ERROR
        text = f"HTTP {status}: {body}"
    elif isinstance(exc, ResponseHandlingException | httpx.HTTPError):
        source = exc.source if isinstance(exc, ResponseHandlingException) else exc
        code = codes.TIMEOUT if isinstance(source, httpx.TimeoutException) else codes.NETWORK
        text = f"{type(source).__name__}: {source}"
    elif base.LOCKED.search(text.lower()):
        code = codes.STORE_LOCKED  # local mode: the path is open in another client
    elif isinstance(exc, ValueError) and "not found" in text.lower():
        code = codes.NOT_FOUND
    elif "dimension" in text.lower() or "not aligned" in text:
        code = codes.DIMENSION_MISMATCH
    else:
        code = codes.DB_ERROR
    return ErrInfo.from_exception(
        exc, code=code, msg=f"qdrant {op} on {collection!r}: {text}"[:400], ctx=ctx
    )


class QdrantStore(base.StoreBase):
    """A ``VectorStore`` on ``AsyncQdrantClient``: a Qdrant server or cluster (``url``, optional
    ``api_key``) or qdrant-client's local mode (``location=":memory:"`` or ``path=``).

    - ``QdrantStore(client)`` uses a client the shell owns; ``QdrantStore.connect(...)`` builds
      one that ``close()`` closes.
    - Local mode is for tests and small data: it searches by brute force (always exact),
      persists ``path=`` to SQLite, allows one client per path, runs its work on the event
      loop (its async API is not truly async), and ignores payload indexes (not created there).
    - Server mode writes with ``wait=True``, so an Ok upsert is visible to the next query.
    - Errors: see ``VectorStore``; HTTP statuses map as in ``code_for_status`` (400 about a
      vector dimension -> DIMENSION_MISMATCH), connection failures -> NETWORK.
    """

    def __init__(
        self,
        client: AsyncQdrantClient,
        *,
        owns_client: bool = False,
        max_batch_points: int = vectors.DEFAULT_MAX_BATCH_POINTS,
        max_batch_bytes: int = vectors.DEFAULT_MAX_BATCH_BYTES,
    ) -> None:
        self._client = client
        self._owns = owns_client
        self._local = type(getattr(client, "_client", None)).__name__ == "AsyncQdrantLocal"
        self._max_points = max_batch_points
        self._max_bytes = max_batch_bytes
        self._dims: dict[str, int] = {}
        self._sparse: dict[str, frozenset[str]] = {}

    @classmethod
    def connect(
        cls,
        url: str | None = None,
        *,
        api_key: str | None = None,
        location: str | None = None,
        path: str | None = None,
        timeout_s: int = 30,
    ) -> AsyncPlan[QdrantStore]:
        """A plan that builds a client owned by the store: exactly one of ``url``,
        ``location`` (``":memory:"``) or ``path`` (local on-disk mode).

        A ``path`` already opened by another client -> ``Err(STORE_LOCKED)``. Building a client
        for ``url`` does not contact the server (the first operation does).
        """
        if sum(x is not None for x in (url, location, path)) != 1:
            raise ValueError("QdrantStore.connect: give exactly one of url, location, path")
        where = safe_url(url) if url else (location or path or "")

        async def _run() -> Result[QdrantStore, ErrInfo]:
            try:
                if url is not None:
                    client = AsyncQdrantClient(
                        url=url, api_key=api_key, timeout=timeout_s, check_compatibility=False
                    )
                elif location is not None:
                    client = AsyncQdrantClient(location=location)
                else:
                    client = AsyncQdrantClient(path=path)
            except Exception as exc:
                return Err(qdrant_error(exc, "connect", where))
            return Ok(cls(client, owns_client=True))

        return _run

    async def _guard(
        self, op: str, collection: str, make: Callable[[], Awaitable[T]]
    ) -> Result[T, ErrInfo]:
        name = vectors.check_collection_name(collection)
        if isinstance(name, Err):
            return name
        try:
            return Ok(await make())
        except Exception as exc:
            return Err(qdrant_error(exc, op, collection))

    async def _dim(self, collection: str) -> Result[int, ErrInfo]:
        if collection in self._dims:
            return Ok(self._dims[collection])
        res = await self._guard(
            "get_collection", collection, lambda: self._vector_params(collection)
        )
        if isinstance(res, Err):
            return res
        self._dims[collection] = res.value.size
        return Ok(res.value.size)

    async def _sparse_names(self, collection: str) -> frozenset[str]:
        if collection not in self._sparse:
            info = await self._client.get_collection(collection)
            self._sparse[collection] = frozenset(info.config.params.sparse_vectors or {})
        return self._sparse[collection]

    async def _vector_params(self, collection: str) -> models.VectorParams:
        if not await self._client.collection_exists(collection):
            raise ValueError(f"Collection {collection} not found")
        info = await self._client.get_collection(collection)
        params = info.config.params.vectors
        if isinstance(params, dict):
            params = params.get("")
        if not isinstance(params, models.VectorParams):
            raise ValueError(f"collection {collection} has no default dense vector")
        return params

    def _ensure_plan(self, spec: base.CollectionSpec) -> AsyncPlan[None]:
        """Payload indexes are created in server mode only."""
        name, dim, distance, sparse = spec.name, spec.dim, spec.distance, spec.sparse

        async def _ensure() -> None:
            if await self._client.collection_exists(name):
                params = await self._vector_params(name)
                if params.size != dim:
                    raise _Mismatch(codes.DIMENSION_MISMATCH, f"has {params.size} dims, not {dim}")
                if params.distance != _DISTANCE[distance]:
                    raise _Mismatch(
                        codes.INVALID_INPUT, f"uses {params.distance.value}, not {distance}"
                    )
                self._sparse.pop(name, None)
                named = vectors.check_sparse_names(name, await self._sparse_names(name), sparse)
                if isinstance(named, Err):
                    raise _Mismatch(named.error.code, named.error.msg, named.error.ctx)
                existing = (await self._client.get_collection(name)).payload_schema
            else:
                await self._client.create_collection(
                    collection_name=name,
                    vectors_config=models.VectorParams(size=dim, distance=_DISTANCE[distance]),
                    sparse_vectors_config={
                        n: models.SparseVectorParams(modifier=models.Modifier.IDF) for n in sparse
                    }
                    or None,
                )
                self._sparse[name] = frozenset(sparse)
                existing = {}
            if not self._local:
                for field_name, kind in spec.indexes.items():
                    if field_name not in existing:
                        await self._client.create_payload_index(
                            name, field_name=field_name, field_schema=_SCHEMA[kind], wait=True
                        )
            self._dims[name] = dim

        async def _run() -> Result[None, ErrInfo]:
            res = await self._guard("ensure_collection", name, _ensure)
            if isinstance(res, Err) and isinstance(res.error.cause, _Mismatch):
                m = res.error.cause
                msg = str(m) if m.ctx else f"collection {name!r} {m}"
                return Err(
                    ErrInfo(
                        m.code,
                        msg,
                        ctx={"collection": name, "dim": dim, "distance": distance, **m.ctx},
                    )
                )
            return res

        return _run

    def _upsert_plan(self, collection: str, frozen: tuple[Point, ...]) -> AsyncPlan[int]:
        async def _run() -> Result[int, ErrInfo]:
            dim = await self._dim(collection)
            if isinstance(dim, Err):
                return dim
            try:
                have = await self._sparse_names(collection)
            except Exception as exc:
                return Err(qdrant_error(exc, "upsert", collection))
            batches = vectors.checked_batches(
                collection,
                frozen,
                dim.value,
                have,
                max_points=self._max_points,
                max_bytes=self._max_bytes,
            )
            if isinstance(batches, Err):
                return batches
            done = 0
            for batch in batches.value:
                structs = [
                    models.PointStruct(
                        id=p.id, vector=_point_vector(p.vector, p.sparse), payload=p.payload
                    )
                    for p in batch
                ]

                async def _send(structs: list[models.PointStruct] = structs) -> None:
                    await self._client.upsert(collection, points=structs, wait=True)

                res = await self._guard("upsert", collection, _send)
                if isinstance(res, Err):
                    return Err(res.error.with_ctx(written=done))
                done += len(batch)
            return Ok(done)

        return _run

    async def _delete_ids(self, collection: str, ids: list[str]) -> Result[None, ErrInfo]:
        def selector() -> models.PointsSelector:
            return models.PointIdsList(points=list[models.ExtendedPointId](ids))

        return await self._guard(
            "delete_ids", collection, lambda: self._delete(collection, selector)
        )

    async def _delete_by_filter(self, collection: str, filter: Filter) -> Result[None, ErrInfo]:
        def selector() -> models.PointsSelector:
            return models.FilterSelector(filter=_qdrant_filter(filter))

        return await self._guard(
            "delete_by_filter", collection, lambda: self._delete(collection, selector)
        )

    async def _delete(self, collection: str, selector: Callable[[], models.PointsSelector]) -> None:
        await self._client.delete(collection, points_selector=selector(), wait=True)

    def _query_plan(self, collection: str, q: base.NearestQuery) -> AsyncPlan[list[ScoredPoint]]:
        """Local mode is always exact."""

        async def _run() -> Result[list[ScoredPoint], ErrInfo]:
            dim = await self._dim(collection)
            if isinstance(dim, Err):
                return dim
            vec = vectors.check_vector(q.vector, dim.value)
            if isinstance(vec, Err):
                return Err(vec.error.with_ctx(collection=collection))
            params = models.SearchParams(exact=True) if q.exact and not self._local else None

            async def _q() -> list[ScoredPoint]:
                resp = await self._client.query_points(
                    collection,
                    query=vec.value,
                    query_filter=to_qdrant_filter(q.filter),
                    limit=q.limit,
                    with_payload=True,
                    with_vectors=False,
                    search_params=params,
                )
                return [
                    ScoredPoint(str(p.id), float(p.score), dict(p.payload or {}))
                    for p in resp.points
                ]

            return await self._guard("query", collection, _q)

        return _run

    def search(self, collection: str, query: SearchQuery) -> AsyncPlan[list[ScoredPoint]]:
        """Run ``query`` through the Query API (see ``funcpipe.ports._search``): several lists
        are prefetches fused by RRF (weights, k). A capped query asks for more ranked hits until
        the cap fills ``limit`` (all fused candidates when fused), as on Edge."""

        async def _fetch(limit: int) -> list[ScoredPoint]:
            flt = to_qdrant_filter(query.filter)
            if query.fused:
                w = query.fusion.weights
                resp = await self._client.query_points(
                    collection,
                    prefetch=[
                        models.Prefetch(
                            query=_q_vector(n.vector), using=n.using, limit=n.limit, filter=flt
                        )
                        for n in query.prefetch
                    ],
                    query=models.RrfQuery(
                        rrf=models.Rrf(k=query.fusion.k, weights=list(w) if w else None)
                    ),
                    query_filter=flt,
                    limit=limit,
                    with_payload=True,
                    with_vectors=False,
                )
            else:
                only = query.prefetch[0]
                resp = await self._client.query_points(
                    collection,
                    query=_q_vector(only.vector),
                    using=only.using,
                    query_filter=flt,
                    limit=limit,
                    with_payload=True,
                    with_vectors=False,
                )
            return [
                ScoredPoint(str(p.id), float(p.score), dict(p.payload or {})) for p in resp.points
            ]

        async def _total() -> int:
            return (await self._client.count(collection, exact=True)).count

        async def _run() -> Result[list[ScoredPoint], ErrInfo]:
            dim = await self._dim(collection)
            if isinstance(dim, Err):
                return dim
            have = await self._guard("search", collection, lambda: self._sparse_names(collection))
            if isinstance(have, Err):
                return have
            checked = vectors.check_search(collection, query, dim.value, have.value)
            if isinstance(checked, Err):
                return checked
            total = 0
            if base.needs_total(query):
                got_total = await self._guard("search", collection, _total)
                if isinstance(got_total, Err):
                    return got_total
                total = got_total.value
            sizes = base.search_sizes(query, total)
            out: list[ScoredPoint] = []
            for n in sizes:
                got = await self._guard("search", collection, functools.partial(_fetch, n))
                if isinstance(got, Err):
                    return got
                out = vectors.cap_groups(got.value, query)
                if len(out) >= query.limit or len(got.value) < n:
                    break
            return Ok(out)

        return _run

    def _scroll(
        self, collection: str, filter: Filter | None, with_payload: bool, page_size: int
    ) -> AsyncGen[Record]:
        qf = to_qdrant_filter(filter)

        async def _page(
            off: models.ExtendedPointId | None,
        ) -> tuple[list[Record], models.ExtendedPointId | None]:
            records, nxt = await self._client.scroll(
                collection,
                scroll_filter=qf,
                limit=page_size,
                offset=off,
                with_payload=with_payload,
                with_vectors=False,
            )
            return [
                base.stored_record(r.id, r.payload, None, with_payload, False) for r in records
            ], nxt

        async def _fetch(
            off: models.ExtendedPointId | None,
        ) -> Result[tuple[list[Record], models.ExtendedPointId | None], ErrInfo]:
            return await self._guard("scroll", collection, functools.partial(_page, off))

        return base.paged(_fetch, None)

    async def _retrieve(
        self, collection: str, wanted: list[str], with_payload: bool, with_vectors: bool
    ) -> Result[list[Record], ErrInfo]:
        if not wanted:
            return await self._guard("retrieve", collection, lambda: self._exists(collection))

        async def _get() -> list[Record]:
            recs = await self._client.retrieve(
                collection,
                ids=list[models.ExtendedPointId](wanted),
                with_payload=with_payload,
                with_vectors=with_vectors,
            )
            got = [
                base.stored_record(r.id, r.payload, r.vector, with_payload, with_vectors)
                for r in recs
            ]
            return base.in_order(got, wanted)

        return await self._guard("retrieve", collection, _get)

    async def _exists(self, collection: str) -> list[Record]:
        if not await self._client.collection_exists(collection):
            raise ValueError(f"Collection {collection} not found")
        return []

    def count(self, collection: str, filter: Filter | None = None) -> AsyncPlan[int]:
        """Exact number of points matching ``filter``."""

        async def _count() -> int:
            res = await self._client.count(
                collection, count_filter=to_qdrant_filter(filter), exact=True
            )
            return res.count

        async def _run() -> Result[int, ErrInfo]:
            return await self._guard("count", collection, _count)

        return _run

    def optimize(self, collection: str, *, unindexed_threshold: int = 0) -> AsyncPlan[bool]:
        """No-op (Ok(False)): a Qdrant server optimises in the background; local mode has no
        index. Checks that the collection exists."""

        async def _run() -> Result[bool, ErrInfo]:
            dim = await self._dim(collection)
            return dim if isinstance(dim, Err) else Ok(False)

        return _run

    def list_collections(self) -> AsyncPlan[list[str]]:
        """The names of the server's (or local store's) collections, sorted."""

        async def _list() -> list[str]:
            got = await self._client.get_collections()
            return sorted(c.name for c in got.collections)

        async def _run() -> Result[list[str], ErrInfo]:
            try:
                return Ok(await _list())
            except Exception as exc:
                return Err(qdrant_error(exc, "list_collections", ""))

        return _run

    def drop_collection(self, name: str) -> AsyncPlan[bool]:
        """Delete the collection; Ok(False) when there was none."""

        async def _drop() -> bool:
            if not await self._client.collection_exists(name):
                return False
            await self._client.delete_collection(name)
            return True

        async def _run() -> Result[bool, ErrInfo]:
            res = await self._guard("drop_collection", name, _drop)
            self._dims.pop(name, None)
            return res

        return _run

    def close(self) -> AsyncPlan[None]:
        """Close the client if this store owns it (idempotent)."""

        async def _run() -> Result[None, ErrInfo]:
            if self._owns:
                try:
                    await self._client.close()
                except Exception as exc:
                    return Err(qdrant_error(exc, "close", ""))
            return Ok(None)

        return _run


class _Mismatch(Exception):
    def __init__(self, code: str, msg: str, ctx: Mapping[str, object] | None = None) -> None:
        super().__init__(msg)
        self.code = code
        self.ctx = dict(ctx or {})


def _q_vector(vector: Sequence[float] | SparseVector) -> list[float] | models.SparseVector:
    if isinstance(vector, SparseVector):
        return models.SparseVector(indices=list(vector.indices), values=list(vector.values))
    return list(vector)


def _point_vector(dense: list[float], sparse: Mapping[str, SparseVector]) -> models.VectorStruct:
    if not sparse:
        return dense
    named: dict[str, models.Vector] = {"": dense}
    for name, v in sparse.items():
        named[name] = models.SparseVector(indices=list(v.indices), values=list(v.values))
    return named
