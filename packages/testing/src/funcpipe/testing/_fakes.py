"""Fake ports that obey a FaultSchedule: an embedder, a vector store, a document source."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Generic, TypeAlias, TypeVar

from funcpipe.async_plan import AsyncPlan
from funcpipe.policies import Sleep
from funcpipe.ports import (
    Distance,
    Filter,
    PayloadIndexKind,
    Point,
    Record,
    ScoredPoint,
    SearchQuery,
    SparseVector,
    check_texts,
)
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen

from ._fake_store import (
    Collection,
    canonical_ids,
    check_name,
    check_points,
    check_vector,
    invalid,
    new_collection,
    records,
    run_search,
    scroll_pages,
    search,
)
from ._faults import FaultSchedule, InjectedFault
from ._ports import FaultPort

T = TypeVar("T")

Vector: TypeAlias = tuple[float, ...]


def fake_vector(text: str, dim: int = 8) -> Vector:
    """A deterministic unit-free vector for ``text`` (from its sha256): same text, same vector."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return tuple(digest[i % len(digest)] / 255.0 for i in range(dim))


class FakeEmbedder(FaultPort):
    """A batch embedder obeying a per-key ``FaultSchedule``; implements the ``Embedder`` port
    (``funcpipe.ports``) with ``embed(texts)``.

    ``embed_batch(texts, keys)`` is one call: every key's attempt counter goes up by one and
    the worst of their outcomes decides the whole call (all-or-nothing, like a real batch
    request). Vectors are ``fake_vector(text, dim)``, so embedding is pure and a repeated
    embedding is harmless. ``calls`` lists the keys of every call, in call order.
    """

    port = "embed"

    def __init__(
        self, schedule: FaultSchedule | None = None, *, dim: int = 8, sleep: Sleep | None = None
    ) -> None:
        super().__init__(schedule, sleep=sleep)
        if dim < 1:
            raise ValueError(f"FakeEmbedder.dim must be >= 1, got {dim}")
        self.dim: int = dim
        self.calls: list[tuple[str, ...]] = []

    def reset_schedule(self, schedule: FaultSchedule | None = None) -> None:
        super().reset_schedule(schedule)
        self.calls.clear()

    def reset(self) -> None:
        """Back to a fresh embedder with the same schedule."""
        self.reset_schedule()

    def embed_batch(
        self, texts: Sequence[str], keys: Sequence[str] | None = None
    ) -> AsyncPlan[list[Vector]]:
        """A plan embedding ``texts``; ``keys`` (default: the texts) select the faults."""
        frozen_texts = tuple(texts)
        frozen_keys = tuple(keys) if keys is not None else frozen_texts
        if len(frozen_keys) != len(frozen_texts):
            raise ValueError(
                f"FakeEmbedder.embed_batch: {len(frozen_texts)} texts but {len(frozen_keys)} keys"
            )

        def _vectors() -> list[Vector]:
            return [fake_vector(t, self.dim) for t in frozen_texts]

        async def _embed() -> Result[list[Vector], ErrInfo]:
            if not frozen_keys:
                return Ok([])
            self.calls.append(frozen_keys)
            return await self.enact(frozen_keys, _vectors)

        return _embed

    @property
    def model_id(self) -> str:
        """``"fake-embedder"`` (with ``dimension``, the embedder's identity)."""
        return "fake-embedder"

    @property
    def dimension(self) -> int:
        """The vector length, ``dim``."""
        return self.dim

    def embed(self, texts: Sequence[str]) -> AsyncPlan[list[list[float]]]:
        """The ``Embedder`` port: one batch call keyed by the texts, after the port's input
        check (``check_texts``: EMPTY_INPUT / INVALID_INPUT with ``ctx["index"]``)."""
        frozen = tuple(texts)

        async def _run() -> Result[list[list[float]], ErrInfo]:
            checked = check_texts(frozen)
            if isinstance(checked, Err):
                return checked
            res = await self.embed_batch(checked.value)()
            if isinstance(res, Err):
                return res
            return Ok([list(v) for v in res.value])

        return _run

    def embed_one(self, text: str, key: str | None = None) -> AsyncPlan[Vector]:
        """A plan embedding one text (``key``, default the text, selects the faults)."""
        batch = self.embed_batch([text], None if key is None else [key])

        async def _one() -> Result[Vector, ErrInfo]:
            res = await batch()
            return res.map(lambda vs: vs[0])

        return _one


@dataclass(frozen=True, slots=True)
class StoredPoint:
    """What the fake store holds for one id."""

    vector: Vector
    payload: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "vector", tuple(self.vector))
        object.__setattr__(self, "payload", MappingProxyType(dict(self.payload)))

    def __hash__(self) -> int:
        return hash((self.vector, tuple(sorted(self.payload.items()))))


class FakeConnection:
    """A connection of ``FakeVectorStore.connect()``; unusable once closed."""

    def __init__(self, store: FakeVectorStore) -> None:
        self._store: FakeVectorStore = store
        self.closed: bool = False

    def upsert(
        self, point_id: str, vector: Sequence[float], payload: Mapping[str, object] | None = None
    ) -> AsyncPlan[str]:
        """Insert or replace ``point_id`` (see ``FakeVectorStore.upsert``)."""
        return self._store._upsert_plan(self, point_id, vector, payload)

    def delete(self, point_id: str) -> AsyncPlan[bool]:
        """Remove ``point_id``; ``Ok(True)`` if it was there."""
        return self._store._delete_plan(self, point_id)


class FakeVectorStore(FaultPort):
    """An in-memory vector store with UPSERT by stable id, per-id faults and connection counts.

    It implements the ``VectorStore`` port (``funcpipe.ports``): collections with a dimension
    and distance, exact search, the port's error codes, faults looked up by point id
    (``upsert``) or collection name (every other method); the port never raises (an
    ``exception`` fault is ``Err(UNEXPECTED)``). The one store contract suite runs over it.
    Beside the port, a per-id API over connections (``connect()``, ``upsert_one``,
    ``delete_one``, ``data``, ``snapshot()``) for pipelines that write single points:

    - ``upsert(id, vector, payload)`` replaces the point with that id, so repeating a write
      never duplicates. Outcomes are looked up by id: a ``timeout`` applies the write and then
      returns ``Err(TIMEOUT)`` (the acknowledgement is lost); ``hang`` and ``transient`` write
      nothing; a write happens at one instant, so a cancelled call leaves no partial point.
    - ``connect()`` is an async context manager yielding a ``FakeConnection``;
      ``open_connections`` counts the open ones. ``store.upsert``/``store.delete`` open an
      implicit connection for the duration of the call.
    - ``snapshot()`` is a read-only copy of the points; ``reset()`` empties the store and
      forgets attempts; ``reset_schedule()`` only forgets attempts.
    - ``writes`` counts applied upserts (repeats included).
    """

    port = "store"

    def __init__(self, schedule: FaultSchedule | None = None, *, sleep: Sleep | None = None):
        super().__init__(schedule, sleep=sleep)
        self._points: dict[str, StoredPoint] = {}
        self.collections: dict[str, Collection] = {}
        self.open_connections: int = 0
        self.connections_opened: int = 0
        self.writes: int = 0

    @property
    def data(self) -> Mapping[str, StoredPoint]:
        """The live points (read-only view)."""
        return MappingProxyType(self._points)

    def snapshot(self) -> Mapping[str, StoredPoint]:
        """A read-only copy of the points as they are now."""
        return MappingProxyType(dict(self._points))

    def reset(self) -> None:
        """Empty the store and forget attempts (open connections stay counted)."""
        self._points.clear()
        self.collections.clear()
        self.writes = 0
        self.connections_opened = 0
        self.reset_schedule()

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[FakeConnection]:
        """Open a connection; it is closed (and uncounted) on exit, however the block ends."""
        conn = FakeConnection(self)
        self.open_connections += 1
        self.connections_opened += 1
        try:
            yield conn
        finally:
            conn.closed = True
            self.open_connections -= 1

    def upsert_one(
        self, point_id: str, vector: Sequence[float], payload: Mapping[str, object] | None = None
    ) -> AsyncPlan[str]:
        """A plan that upserts over its own short-lived connection; ``Ok(point_id)``."""

        async def _run() -> Result[str, ErrInfo]:
            async with self.connect() as conn:
                return await conn.upsert(point_id, vector, payload)()

        return _run

    def delete_one(self, point_id: str) -> AsyncPlan[bool]:
        """A plan that deletes over its own short-lived connection."""

        async def _run() -> Result[bool, ErrInfo]:
            async with self.connect() as conn:
                return await conn.delete(point_id)()

        return _run

    # ---- the VectorStore port (funcpipe.ports): collections, exact search ----------------

    async def _call(
        self, keys: Sequence[str], effect: Callable[[], Result[T, ErrInfo]]
    ) -> Result[T, ErrInfo]:
        """One port call: faults by ``keys``, then ``effect``; never raises (``exception`` ->
        ``Err(UNEXPECTED)`` with ``path=(key,)``)."""
        try:
            res = await self.enact(keys, effect, effect_on_timeout=True)
        except InjectedFault as exc:
            return Err(ErrInfo.from_exception(exc, stage=self.port, path=(exc.key,)))
        return res if isinstance(res, Err) else res.value

    def _collection(self, name: str) -> Result[Collection, ErrInfo]:
        checked = check_name(name)
        if isinstance(checked, Err):
            return checked
        col = self.collections.get(name)
        if col is None:
            return Err(ErrInfo(codes.NOT_FOUND, f"collection {name!r} does not exist", self.port))
        return Ok(col)

    def ensure_collection(
        self,
        name: str,
        dim: int,
        distance: Distance = "cosine",
        payload_indexes: Mapping[str, PayloadIndexKind] = MappingProxyType({}),
        sparse_vectors: Sequence[str] = (),
    ) -> AsyncPlan[None]:
        """Idempotent; another dimension -> DIMENSION_MISMATCH, another distance or a missing
        sparse vector -> INVALID_INPUT."""

        def _ensure() -> Result[None, ErrInfo]:
            checked = check_name(name)
            if isinstance(checked, Err):
                return checked
            if dim < 1:
                return invalid(f"dimension must be >= 1, got {dim}")
            col = self.collections.get(name)
            if col is None:
                self.collections[name] = new_collection(
                    dim, distance, payload_indexes, sparse_vectors
                )
                return Ok(None)
            if col.dim != dim:
                msg = f"collection {name!r} has dimension {col.dim}, not {dim}"
                return Err(ErrInfo(codes.DIMENSION_MISMATCH, msg, self.port))
            if col.distance != distance:
                return invalid(f"collection {name!r} uses {col.distance}, not {distance}")
            missing = sorted(set(sparse_vectors) - col.sparse_names)
            if missing:
                msg = f"collection {name!r} has no sparse vector {missing[0]!r}"
                return Err(ErrInfo(codes.INVALID_INPUT, msg, ctx={"missing_sparse": missing}))
            return Ok(None)

        async def _run() -> Result[None, ErrInfo]:
            return await self._call([name], _ensure)

        return _run

    def upsert(self, collection: str, points: Sequence[Point]) -> AsyncPlan[int]:
        """Idempotent by id; faults are looked up by the points' ids (a ``timeout`` writes,
        then loses the acknowledgement). ``Ok(number of points)``."""
        frozen = tuple(points)

        def _write() -> Result[int, ErrInfo]:
            col = self._collection(collection)
            if isinstance(col, Err):
                return col
            checked = check_points(frozen, col.value)
            if isinstance(checked, Err):
                return checked
            for i, p in enumerate(frozen):
                unknown = sorted(set(p.sparse) - col.value.sparse_names)
                if unknown:
                    msg = f"point {p.id}: the collection has no sparse vector {unknown[0]!r}"
                    return Err(
                        ErrInfo(
                            codes.INVALID_INPUT,
                            msg,
                            path=(i,),
                            ctx={"index": i, "missing_sparse": unknown},
                        )
                    )
            for (pid, vec, payload), p in zip(checked.value, frozen, strict=True):
                col.value.points[pid] = (vec, payload)
                for name in col.value.sparse_names:
                    if name in p.sparse:
                        col.value.sparse.setdefault(name, {})[pid] = p.sparse[name]
                    else:
                        col.value.sparse.get(name, {}).pop(pid, None)
            self.writes += len(checked.value)
            return Ok(len(checked.value))

        async def _run() -> Result[int, ErrInfo]:
            return await self._call([str(p.id).lower() for p in frozen] or [collection], _write)

        return _run

    def delete_ids(self, collection: str, ids: Sequence[str]) -> AsyncPlan[None]:
        """Remove the given ids (unknown ones are ignored)."""
        frozen = tuple(ids)

        def _delete() -> Result[None, ErrInfo]:
            col = self._collection(collection)
            canon = canonical_ids(frozen)
            if isinstance(col, Err) or isinstance(canon, Err):
                return col if isinstance(col, Err) else canon  # type: ignore[return-value]
            for pid in canon.value:
                col.value.points.pop(pid, None)
                for vecs in col.value.sparse.values():
                    vecs.pop(pid, None)
            return Ok(None)

        async def _run() -> Result[None, ErrInfo]:
            return await self._call([collection], _delete)

        return _run

    def delete_by_filter(self, collection: str, filter: Filter) -> AsyncPlan[None]:
        """Remove the matching points; an empty filter -> INVALID_INPUT (never deletes all)."""

        def _delete() -> Result[None, ErrInfo]:
            if filter.is_empty:
                return invalid("delete_by_filter refuses an empty filter")
            col = self._collection(collection)
            if isinstance(col, Err):
                return col
            for pid in [k for k, (_, pl) in col.value.points.items() if filter.matches(pl)]:
                del col.value.points[pid]
                for vecs in col.value.sparse.values():
                    vecs.pop(pid, None)
            return Ok(None)

        async def _run() -> Result[None, ErrInfo]:
            return await self._call([collection], _delete)

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
        """Exact search (``exact`` changes nothing here): at most ``limit`` hits, best first."""
        frozen = tuple(vector)

        def _query() -> Result[list[ScoredPoint], ErrInfo]:
            if limit < 1:
                return invalid(f"limit must be >= 1, got {limit}")
            col = self._collection(collection)
            if isinstance(col, Err):
                return col
            vec = check_vector(frozen, col.value.dim)
            if isinstance(vec, Err):
                return vec
            return Ok(search(col.value, vec.value, filter, limit))

        async def _run() -> Result[list[ScoredPoint], ErrInfo]:
            return await self._call([collection], _query)

        return _run

    def search(self, collection: str, query: SearchQuery) -> AsyncPlan[list[ScoredPoint]]:
        """Exact ``SearchQuery`` (ranked lists, Qdrant's weighted RRF, per-group cap)."""

        def _search() -> Result[list[ScoredPoint], ErrInfo]:
            col = self._collection(collection)
            if isinstance(col, Err):
                return col
            missing = sorted(query.sparse_names - col.value.sparse_names)
            if missing:
                msg = f"collection {collection!r} has no sparse vector {missing[0]!r}"
                return Err(ErrInfo(codes.INVALID_INPUT, msg, ctx={"missing_sparse": missing}))
            for n in query.prefetch:
                if not isinstance(n.vector, SparseVector):
                    vec = check_vector(n.vector, col.value.dim)
                    if isinstance(vec, Err):
                        return vec
            return Ok(run_search(col.value, query))

        async def _run() -> Result[list[ScoredPoint], ErrInfo]:
            return await self._call([collection], _search)

        return _run

    def scroll(
        self,
        collection: str,
        filter: Filter | None = None,
        *,
        with_payload: bool = True,
        page_size: int = 256,
    ) -> AsyncGen[Record]:
        """Every matching point once (one fault lookup per iteration, keyed by collection)."""

        async def _scroll() -> AsyncIterator[Result[Record, ErrInfo]]:
            col = await self._call([collection], lambda: self._collection(collection))
            if isinstance(col, Err):
                yield col
                return
            async for item in scroll_pages(col.value, filter, with_payload):
                yield item

        return _scroll

    def retrieve(
        self,
        collection: str,
        ids: Sequence[str],
        *,
        with_payload: bool = True,
        with_vectors: bool = True,
    ) -> AsyncPlan[list[Record]]:
        """The stored points of ``ids`` in the order asked, each once, unknown ones left out."""
        frozen = tuple(ids)

        def _retrieve() -> Result[list[Record], ErrInfo]:
            col = self._collection(collection)
            if isinstance(col, Err):
                return col
            canon = canonical_ids(frozen)
            if isinstance(canon, Err):
                return canon
            return Ok(records(col.value, canon.value, with_payload, with_vectors))

        async def _run() -> Result[list[Record], ErrInfo]:
            return await self._call([collection], _retrieve)

        return _run

    def count(self, collection: str, filter: Filter | None = None) -> AsyncPlan[int]:
        """How many points match ``filter`` (all when ``None``)."""

        def _count() -> Result[int, ErrInfo]:
            col = self._collection(collection)
            if isinstance(col, Err):
                return col
            pls = [pl for _, pl in col.value.points.values()]
            return Ok(sum(1 for pl in pls if filter is None or filter.matches(pl)))

        async def _run() -> Result[int, ErrInfo]:
            return await self._call([collection], _count)

        return _run

    def optimize(self, collection: str, *, unindexed_threshold: int = 0) -> AsyncPlan[bool]:
        """Nothing to build (search is exact): ``Ok(False)`` for an existing collection."""

        def _optimize() -> Result[bool, ErrInfo]:
            col = self._collection(collection)
            return col if isinstance(col, Err) else Ok(False)

        async def _run() -> Result[bool, ErrInfo]:
            return await self._call([collection], _optimize)

        return _run

    def list_collections(self) -> AsyncPlan[list[str]]:
        """Every collection's name, sorted."""

        def _list() -> Result[list[str], ErrInfo]:
            return Ok(sorted(self.collections))

        async def _run() -> Result[list[str], ErrInfo]:
            return await self._call(["list_collections"], _list)

        return _run

    def drop_collection(self, name: str) -> AsyncPlan[bool]:
        """Remove the collection and its points; ``Ok(False)`` when there was none."""

        def _drop() -> Result[bool, ErrInfo]:
            checked = check_name(name)
            if isinstance(checked, Err):
                return checked
            return Ok(self.collections.pop(name, None) is not None)

        async def _run() -> Result[bool, ErrInfo]:
            return await self._call([name], _drop)

        return _run

    def close(self) -> AsyncPlan[None]:
        """Nothing to release: ``Ok(None)`` (the data stays, as in a server's store)."""

        async def _run() -> Result[None, ErrInfo]:
            return Ok(None)

        return _run

    def _closed_error(self, point_id: str) -> Err[ErrInfo]:
        return Err(
            ErrInfo(codes.DB_ERROR, "connection is closed", stage=self.port, path=(point_id,))
        )

    def _upsert_plan(
        self,
        conn: FakeConnection,
        point_id: str,
        vector: Sequence[float],
        payload: Mapping[str, object] | None,
    ) -> AsyncPlan[str]:
        point = StoredPoint(tuple(vector), payload or {})

        def _write() -> str:
            self._points[point_id] = point
            self.writes += 1
            return point_id

        async def _run() -> Result[str, ErrInfo]:
            if conn.closed:
                return self._closed_error(point_id)
            return await self.enact([point_id], _write, effect_on_timeout=True)

        return _run

    def _delete_plan(self, conn: FakeConnection, point_id: str) -> AsyncPlan[bool]:
        def _delete() -> bool:
            return self._points.pop(point_id, None) is not None

        async def _run() -> Result[bool, ErrInfo]:
            if conn.closed:
                return self._closed_error(point_id)
            return await self.enact([point_id], _delete, effect_on_timeout=True)

        return _run


class FakeDocumentSource(FaultPort, Generic[T]):
    """A document source: calling it starts a fresh iteration (it is an ``AsyncGen[T]``).

    Each document is looked up in the schedule by ``key(doc)``, the attempt being the number
    of times that document was read: ``ok`` yields ``Ok(doc)``; ``transient``/``timeout`` yield
    ``Err`` with ``path=(key,)``; ``exception`` yields ``Err(UNEXPECTED)`` (a reader maps
    failures to per-item errors); ``hang`` waits forever; latency waits first.
    ``open_iterations`` counts iterations started and not yet closed (0 after a full run, a
    ``break`` followed by ``aclose()``, or a cancellation); ``yielded`` counts items handed out.
    """

    port = "source"

    def __init__(
        self,
        docs: Sequence[T],
        *,
        key: Callable[[T], str] = str,
        schedule: FaultSchedule | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        super().__init__(schedule, sleep=sleep)
        self.docs: tuple[T, ...] = tuple(docs)
        self._key: Callable[[T], str] = key
        self.open_iterations: int = 0
        self.iterations: int = 0
        self.yielded: int = 0

    def reset(self) -> None:
        """Forget attempts and counters (open iterations stay counted)."""
        self.iterations = 0
        self.yielded = 0
        self.reset_schedule()

    def __call__(self) -> AsyncIterator[Result[T, ErrInfo]]:
        return self._iterate()

    async def _read(self, doc: T) -> Result[T, ErrInfo]:
        key = self._key(doc)
        try:
            return await self.enact([key], lambda: doc)
        except InjectedFault as exc:
            return Err(ErrInfo.from_exception(exc, stage=self.port, path=(key,)))

    async def _iterate(self) -> AsyncIterator[Result[T, ErrInfo]]:
        self.open_iterations += 1
        self.iterations += 1
        try:
            for doc in self.docs:
                item = await self._read(doc)
                self.yielded += 1
                yield item
        finally:
            self.open_iterations -= 1
