"""The vector store port and its data types."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, Protocol, TypeAlias

from funcpipe.async_plan import AsyncPlan
from funcpipe.streams import AsyncGen

from ._sparse import SparseVector

if TYPE_CHECKING:
    from ._search import SearchQuery

Scalar: TypeAlias = str | int | bool
"""A payload value a filter can match exactly (Qdrant matches keywords, integers, booleans)."""
MatchValue: TypeAlias = Scalar | Sequence[str] | Sequence[int]
"""A scalar (equality) or a non-empty list of str / int (any of)."""
Distance: TypeAlias = Literal["cosine", "dot", "euclid"]
PayloadIndexKind: TypeAlias = Literal["keyword", "integer", "float", "bool"]

_EMPTY: Mapping[str, object] = MappingProxyType({})
_NO_SPARSE: Mapping[str, SparseVector] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Point:
    """A point to upsert: ``id`` a UUID string, ``vector`` (the dense one), JSON-able
    ``payload``, and named ``sparse`` vectors (each name declared by ``ensure_collection``;
    a point may leave any of them out)."""

    id: str
    vector: Sequence[float]
    payload: Mapping[str, object] = field(default_factory=lambda: _EMPTY)
    sparse: Mapping[str, SparseVector] = field(default_factory=lambda: _NO_SPARSE)


@dataclass(frozen=True, slots=True)
class ScoredPoint:
    """A query hit: ``id`` (canonical lower-case UUID string), ``score``, ``payload``.

    Higher is better for cosine and dot; for euclid the score is the distance (lower first).
    """

    id: str
    score: float
    payload: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class Record:
    """A stored point as read back: ``id`` (canonical UUID string), ``payload`` (empty when
    not requested) and ``vector`` (``None`` unless requested; as stored, i.e. unit length
    for cosine collections, which normalise on write)."""

    id: str
    payload: Mapping[str, object]
    vector: list[float] | None = None


def _check_match(key: str, value: object) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError(f"Filter: field names must be non-empty str, got {key!r}")
    if isinstance(value, str | int):  # bool is an int
        return
    if isinstance(value, Sequence) and value:
        if all(isinstance(v, str) for v in value):
            return
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return
    raise ValueError(
        f"Filter: {key!r} must match a str, int or bool, or a non-empty list of str or of int;"
        f" got {value!r}"
    )


@dataclass(frozen=True, slots=True)
class Filter:
    """AND of conditions: every ``must`` field equals its value (or one of a list's values),
    and no ``must_not`` field does. Invalid values raise ``ValueError`` at construction.

    A field holding a list matches if any element matches. An empty filter matches all.
    """

    must: Mapping[str, MatchValue] = field(default_factory=dict)
    must_not: Mapping[str, MatchValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for cond in (self.must, self.must_not):
            for key, value in cond.items():
                _check_match(key, value)
        object.__setattr__(self, "must", MappingProxyType(dict(self.must)))
        object.__setattr__(self, "must_not", MappingProxyType(dict(self.must_not)))

    @property
    def is_empty(self) -> bool:
        """True when the filter has no condition (it matches every point)."""
        return not self.must and not self.must_not

    def matches(self, payload: Mapping[str, object]) -> bool:
        """The filter's meaning on one payload (a reference used by tests)."""

        def hit(key: str, want: MatchValue) -> bool:
            have = payload.get(key)
            haves = list(have) if isinstance(have, list) else [have]
            wants = [want] if isinstance(want, str | int) else list(want)
            return any(
                h == w and isinstance(h, bool) == isinstance(w, bool) for h in haves for w in wants
            )

        return all(hit(k, v) for k, v in self.must.items()) and not any(
            hit(k, v) for k, v in self.must_not.items()
        )


class VectorStore(Protocol):
    """A vector index of collections of points. Every method returns a plan or stream.

    Laws (one contract suite checks them on every backend):
    - ``ensure_collection`` is idempotent; an existing collection of another dimension ->
      ``Err(DIMENSION_MISMATCH)``, another distance -> ``Err(INVALID_INPUT)``.
    - ``upsert`` is idempotent by id (the same points twice leave the same state); it is split
      into batches under a request-size limit (a batch is atomic, the whole call is not: re-run
      it after a failure). A vector of the wrong length -> ``Err(DIMENSION_MISMATCH)``; an id
      that is not a UUID -> ``Err(INVALID_INPUT)``.
    - ``query`` returns at most ``limit`` hits, best first, matching ``filter``; ``exact=True``
      forces a brute-force search (else a backend may use its HNSW index).
    - ``sparse_vectors`` names the collection's sparse vectors (BM25 and the like; scored by
      dot product with the IDF modifier, over the points that have that vector). An existing
      collection lacking one of them -> ``Err(INVALID_INPUT)`` with ``ctx["missing_sparse"]``
      (re-create it: a collection's vectors are fixed when it is made). A point naming an
      undeclared sparse vector, or a search ``using`` one -> ``Err(INVALID_INPUT)``.
    - ``search`` runs a ``SearchQuery`` (one or several ranked lists, RRF fusion, per-group
      cap, filter) with the meaning documented in ``funcpipe.ports._search``.
    - ``scroll`` yields every matching point exactly once (paginated).
    - ``retrieve`` gives the stored points of the given ids, in the order asked (each once;
      unknown ids are left out), with their vectors unless ``with_vectors=False``.
    - ``delete_by_filter`` with an empty filter -> ``Err(INVALID_INPUT)`` (never deletes all).
    - Missing collection -> ``Err(NOT_FOUND)``; backend failures -> ``DB_ERROR``; an
      unreachable server -> ``NETWORK`` (``TIMEOUT`` when it timed out).
    - ``optimize`` builds indexes after bulk loads (Edge: HNSW); a no-op where not needed.
    - Ids are canonical lower-case UUID strings on the way out.
    - ``list_collections`` gives every collection's name, sorted; ``drop_collection`` removes
      one with all its points: ``Ok(True)``, or ``Ok(False)`` when there was none (idempotent);
      afterwards the name is free (``ensure_collection`` creates it anew, any dimension).
    """

    def ensure_collection(
        self,
        name: str,
        dim: int,
        distance: Distance = "cosine",
        payload_indexes: Mapping[str, PayloadIndexKind] = _EMPTY,  # type: ignore[assignment]
        sparse_vectors: Sequence[str] = (),
    ) -> AsyncPlan[None]: ...

    def upsert(self, collection: str, points: Sequence[Point]) -> AsyncPlan[int]: ...

    def delete_ids(self, collection: str, ids: Sequence[str]) -> AsyncPlan[None]: ...

    def delete_by_filter(self, collection: str, filter: Filter) -> AsyncPlan[None]: ...

    def query(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        filter: Filter | None = None,
        limit: int = 10,
        exact: bool = False,
    ) -> AsyncPlan[list[ScoredPoint]]: ...

    def search(self, collection: str, query: SearchQuery) -> AsyncPlan[list[ScoredPoint]]: ...

    def scroll(
        self,
        collection: str,
        filter: Filter | None = None,
        *,
        with_payload: bool = True,
        page_size: int = 256,
    ) -> AsyncGen[Record]: ...

    def retrieve(
        self,
        collection: str,
        ids: Sequence[str],
        *,
        with_payload: bool = True,
        with_vectors: bool = True,
    ) -> AsyncPlan[list[Record]]: ...

    def count(self, collection: str, filter: Filter | None = None) -> AsyncPlan[int]: ...

    def optimize(self, collection: str, *, unindexed_threshold: int = 0) -> AsyncPlan[bool]:
        """Build the collection's index when at least ``unindexed_threshold`` points are not
        indexed yet (0: always); ``Ok(changed)``. Stores that index in the background, or
        search exactly, do nothing (``Ok(False)``)."""
        ...

    def list_collections(self) -> AsyncPlan[list[str]]: ...

    def drop_collection(self, name: str) -> AsyncPlan[bool]: ...

    def close(self) -> AsyncPlan[None]: ...
