"""StoreBase: the VectorStore logic EdgeStore and QdrantStore share (no optional deps).

The base owns the public signatures whose checks do not depend on the engine (bad ``dim`` /
``distance`` / ``page_size`` raise ``ValueError`` at call time; ``limit < 1``, a bad id and an
empty delete filter are ``Err(INVALID_INPUT)`` when the plan runs) and hands the rest to one
hook per operation. The free functions are the pure steps both backends take the same way.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar, get_args

from funcpipe.adapters.vectors import (
    Distance,
    Filter,
    PayloadIndexKind,
    Point,
    Record,
    ScoredPoint,
    SearchQuery,
    fetch_sizes,
    normalise_id,
    normalise_ids,
)
from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen

C = TypeVar("C")
Off = TypeVar("Off")  # a backend's scroll offset

NO_INDEXES: Mapping[str, PayloadIndexKind] = MappingProxyType({})
DISTANCES: frozenset[str] = frozenset(get_args(Distance))

LOCKED = re.compile(r"\block(ed)?\b|wouldblock|already accessed")
"""A store already open elsewhere, as the engine words it (-> ``STORE_LOCKED``)."""


@dataclass(frozen=True, slots=True)
class CollectionSpec:
    """A checked ``ensure_collection`` request (``dim >= 1``, a known distance)."""

    name: str
    dim: int
    distance: Distance
    indexes: Mapping[str, PayloadIndexKind]
    sparse: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NearestQuery:
    """A ``query`` request (``limit >= 1``)."""

    vector: tuple[float, ...]
    filter: Filter | None
    limit: int
    exact: bool


class StoreBase(ABC):
    """The shared half of a ``VectorStore``: argument checks, then the backend's hook."""

    def ensure_collection(
        self,
        name: str,
        dim: int,
        distance: Distance = "cosine",
        payload_indexes: Mapping[str, PayloadIndexKind] = NO_INDEXES,
        sparse_vectors: Sequence[str] = (),
    ) -> AsyncPlan[None]:
        """Create the collection or check an existing one's dimension, distance and sparse
        vectors (IDF modifier); add missing payload indexes (see the backend for its limits)."""
        if dim < 1 or distance not in DISTANCES:
            raise ValueError(f"ensure_collection: bad dim {dim} or distance {distance!r}")
        indexes = dict(payload_indexes)
        return self._ensure_plan(
            CollectionSpec(name, dim, distance, indexes, tuple(sparse_vectors))
        )

    def upsert(self, collection: str, points: Sequence[Point]) -> AsyncPlan[int]:
        """Upsert ``points`` in batches; Ok(number of points written). A failed batch -> Err
        with ``ctx["written"]`` (points of earlier batches, which stay written)."""
        return self._upsert_plan(collection, tuple(points))

    def retrieve(
        self,
        collection: str,
        ids: Sequence[str],
        *,
        with_payload: bool = True,
        with_vectors: bool = True,
    ) -> AsyncPlan[list[Record]]:
        """The stored points of ``ids`` in the order asked (unknown ids left out); a bad id ->
        ``Err(INVALID_INPUT)`` with ``ctx["index"]`` and ``ctx["collection"]``."""
        raw = tuple(ids)

        async def _run() -> Result[list[Record], ErrInfo]:
            norm = normalise_ids(raw)
            if isinstance(norm, Err):
                return Err(norm.error.with_ctx(collection=collection))
            return await self._retrieve(collection, norm.value, with_payload, with_vectors)

        return _run

    def delete_ids(self, collection: str, ids: Sequence[str]) -> AsyncPlan[None]:
        """Delete points by id (unknown ids are ignored; no ids -> Ok without a call)."""
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
            return await self._delete_ids(collection, norm)

        return _run

    def delete_by_filter(self, collection: str, filter: Filter) -> AsyncPlan[None]:
        """Delete every point matching ``filter`` (an empty filter is refused)."""

        async def _run() -> Result[None, ErrInfo]:
            if filter.is_empty:
                return Err(
                    ErrInfo(
                        codes.INVALID_INPUT,
                        "delete_by_filter: empty filter would delete every point",
                        ctx={"collection": collection},
                    )
                )
            return await self._delete_by_filter(collection, filter)

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
        """Nearest points to ``vector``, best first (``exact`` where the backend indexes)."""
        plan = self._query_plan(collection, NearestQuery(tuple(vector), filter, limit, exact))

        async def _run() -> Result[list[ScoredPoint], ErrInfo]:
            if limit < 1:
                return Err(ErrInfo(codes.INVALID_INPUT, f"query: limit must be >= 1, got {limit}"))
            return await plan()

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
        return self._scroll(collection, filter, with_payload, page_size)

    # ---- hooks: the backend's half ----

    @abstractmethod
    def _ensure_plan(self, spec: CollectionSpec) -> AsyncPlan[None]: ...

    @abstractmethod
    def _upsert_plan(self, collection: str, points: tuple[Point, ...]) -> AsyncPlan[int]: ...

    @abstractmethod
    async def _retrieve(
        self, collection: str, wanted: list[str], with_payload: bool, with_vectors: bool
    ) -> Result[list[Record], ErrInfo]:
        """``wanted``: canonical ids, no duplicates."""

    @abstractmethod
    async def _delete_ids(self, collection: str, ids: list[str]) -> Result[None, ErrInfo]: ...

    @abstractmethod
    async def _delete_by_filter(self, collection: str, filter: Filter) -> Result[None, ErrInfo]:
        """``filter`` is never empty here."""

    @abstractmethod
    def _query_plan(self, collection: str, q: NearestQuery) -> AsyncPlan[list[ScoredPoint]]:
        """Run only with ``q.limit >= 1``."""

    @abstractmethod
    def _scroll(
        self, collection: str, filter: Filter | None, with_payload: bool, page_size: int
    ) -> AsyncGen[Record]: ...


# ---- the pure steps both backends take ----


def filter_parts(
    flt: Filter,
    one: Callable[[str, str | int], C],
    many: Callable[[str, list[str] | list[int]], C],
) -> tuple[list[C] | None, list[C] | None]:
    """``(must, must_not)`` as backend conditions, each None when it has none: a scalar goes
    to ``one`` (equality), a list to ``many`` (any of)."""

    def cond(key: str, value: object) -> C:
        if isinstance(value, str | int):
            return one(key, value)
        assert isinstance(value, Sequence)
        return many(key, list(value))

    return (
        [cond(k, v) for k, v in flt.must.items()] or None,
        [cond(k, v) for k, v in flt.must_not.items()] or None,
    )


def needs_total(query: SearchQuery) -> bool:
    """Whether ``search_sizes`` needs the collection's point count (a capped single list)."""
    return not query.fused and query.group_by is not None


def search_sizes(query: SearchQuery, total: int) -> list[int]:
    """How many ranked hits to ask for, in turn: fused -> one fetch (all candidates when
    capped); else ``fetch_sizes`` (``total`` is read only when ``needs_total``)."""
    if query.fused:
        return [query.candidates if query.group_by else query.limit]
    return fetch_sizes(query, total)


def stored_record(
    point_id: object,
    payload: Mapping[str, object] | None,
    vector: object,
    with_payload: bool,
    with_vectors: bool,
) -> Record:
    """A backend's retrieved point -> Record (the dense vector is the unnamed one)."""
    if isinstance(vector, dict):
        vector = vector.get("")
    return Record(
        str(point_id),
        dict(payload or {}) if with_payload else {},
        [float(x) for x in vector] if with_vectors and isinstance(vector, list) else None,
    )


def in_order(records: Sequence[Record], wanted: Sequence[str]) -> list[Record]:
    """``records`` in the order of ``wanted`` (ids not found left out)."""
    found = {r.id: r for r in records}
    return [found[i] for i in wanted if i in found]


def paged(
    fetch: Callable[[Off], Awaitable[Result[tuple[list[Record], Off], ErrInfo]]], first: Off
) -> AsyncGen[Record]:
    """Pages from ``fetch(offset)`` (``first`` first) as one stream, until the next offset is
    None; a failed page is yielded as its Err and ends the stream."""

    async def _gen() -> AsyncIterator[Result[Record, ErrInfo]]:
        offset = first
        while True:
            res = await fetch(offset)
            if isinstance(res, Err):
                yield res
                return
            records, offset = res.value
            for r in records:
                yield Ok(r)
            if offset is None:
                return

    return _gen
