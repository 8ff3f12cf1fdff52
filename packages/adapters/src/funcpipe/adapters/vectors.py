"""funcpipe.adapters.vectors: the VectorStore interface and its data types (no optional deps).

Implementations: ``funcpipe.adapters.qdrant.QdrantStore`` (extra ``[qdrant]``) and
``funcpipe.adapters.edge.EdgeStore`` (extra ``[edge]``). Both pass one contract test suite.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Protocol, TypeAlias

from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen

__all__ = [
    "DEFAULT_MAX_BATCH_BYTES",
    "DEFAULT_MAX_BATCH_POINTS",
    "Distance",
    "Filter",
    "MatchValue",
    "PayloadIndexKind",
    "Point",
    "Record",
    "Scalar",
    "ScoredPoint",
    "VectorStore",
    "batch_points",
    "check_collection_name",
    "check_vector",
    "normalise_id",
    "normalise_ids",
    "validate_points",
]

Scalar: TypeAlias = str | int | bool
"""A payload value a filter can match exactly (Qdrant matches keywords, integers, booleans)."""
MatchValue: TypeAlias = Scalar | Sequence[str] | Sequence[int]
"""A scalar (equality) or a non-empty list of str / int (any of)."""
Distance: TypeAlias = Literal["cosine", "dot", "euclid"]
PayloadIndexKind: TypeAlias = Literal["keyword", "integer", "float", "bool"]

DEFAULT_MAX_BATCH_POINTS = 256
DEFAULT_MAX_BATCH_BYTES = 8 * 1024 * 1024
"""Upsert batches stay well under Qdrant's default 32 MiB request limit."""

_EMPTY: Mapping[str, object] = MappingProxyType({})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_JSON = json.JSONEncoder(allow_nan=False)  # reused: json.dumps(..., allow_nan=False) builds one


@dataclass(frozen=True, slots=True)
class Point:
    """A point to upsert: ``id`` a UUID string, ``vector``, JSON-able ``payload``."""

    id: str
    vector: Sequence[float]
    payload: Mapping[str, object] = field(default_factory=lambda: _EMPTY)


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
    - ``scroll`` yields every matching point exactly once (paginated).
    - ``retrieve`` gives the stored points of the given ids, in the order asked (each once;
      unknown ids are left out), with their vectors unless ``with_vectors=False``.
    - ``delete_by_filter`` with an empty filter -> ``Err(INVALID_INPUT)`` (never deletes all).
    - Missing collection -> ``Err(NOT_FOUND)``; backend failures -> ``DB_ERROR``; an
      unreachable server -> ``NETWORK`` (``TIMEOUT`` when it timed out).
    - ``optimize`` builds indexes after bulk loads (Edge: HNSW); a no-op where not needed.
    - Ids are canonical lower-case UUID strings on the way out.
    """

    def ensure_collection(
        self,
        name: str,
        dim: int,
        distance: Distance = "cosine",
        payload_indexes: Mapping[str, PayloadIndexKind] = _EMPTY,  # type: ignore[assignment]
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

    def optimize(self, collection: str) -> AsyncPlan[bool]: ...

    def close(self) -> AsyncPlan[None]: ...


# ---- shared validation (pure) -----------------------------------------------------------


def _invalid(msg: str, **ctx: object) -> Err[ErrInfo]:
    return Err(ErrInfo(codes.INVALID_INPUT, msg, ctx=ctx))


def check_collection_name(name: str) -> Result[str, ErrInfo]:
    """Collection names: 1-128 of letters, digits, ``_ . -``, starting with a letter/digit."""
    if isinstance(name, str) and _NAME.match(name):
        return Ok(name)
    return _invalid(f"invalid collection name {name!r}", collection=name)


def normalise_id(point_id: object) -> Result[str, ErrInfo]:
    """A UUID string (any case, with or without hyphens) -> canonical lower-case form."""
    if type(point_id) is str and _CANONICAL_UUID.fullmatch(point_id):
        return Ok(point_id)  # already canonical (the common case): no parsing
    if isinstance(point_id, uuid.UUID):
        return Ok(str(point_id))
    if isinstance(point_id, str):
        try:
            return Ok(str(uuid.UUID(point_id)))
        except ValueError:
            pass
    return _invalid(f"point id {point_id!r} is not a UUID string", id=str(point_id))


def normalise_ids(ids: Sequence[object]) -> Result[list[str], ErrInfo]:
    """Canonical ids, duplicates dropped, first-seen order kept; the first bad id ->
    ``Err(INVALID_INPUT)`` with ``ctx["index"]``."""
    out: dict[str, None] = {}
    for i, raw in enumerate(ids):
        n = normalise_id(raw)
        if isinstance(n, Err):
            return Err(n.error.with_path(i).with_ctx(index=i))
        out[n.value] = None
    return Ok(list(out))


def check_vector(vector: Sequence[float], dim: int | None) -> Result[list[float], ErrInfo]:
    """Finite numbers, length ``dim`` (when known) -> a list of floats.

    Fast path (what embedders produce): a ``list`` of the right length whose sum is a finite
    ``float`` is returned as is, without a per-element conversion (a finite sum means every
    element is finite). Anything else is converted with ``float()`` element by element.
    """
    if type(vector) is list and vector and (dim is None or len(vector) == dim):
        try:
            total: object = sum(vector)
        except TypeError:
            total = None
        if isinstance(total, float) and math.isfinite(total):
            return Ok(vector)
    try:
        vec = list(map(float, vector))
    except (TypeError, ValueError):
        return _invalid("vector must be a sequence of numbers")
    if dim is not None and len(vec) != dim:
        return Err(
            ErrInfo(
                codes.DIMENSION_MISMATCH,
                f"vector has {len(vec)} dimensions, collection has {dim}",
                ctx={"expected_dim": dim, "got_dim": len(vec)},
            )
        )
    # fast path: a finite sum means every value is finite
    if not vec or (not math.isfinite(sum(vec)) and not all(math.isfinite(x) for x in vec)):
        return _invalid("vector must be non-empty and finite")
    return Ok(vec)


@dataclass(frozen=True, slots=True)
class _Checked:
    id: str
    vector: list[float]
    payload: dict[str, object]
    size: int


def validate_points(points: Sequence[Point], dim: int | None) -> Result[list[_Checked], ErrInfo]:
    """Check ids, vectors and JSON-able payloads; ``path[0]`` and ``ctx["index"]`` locate the
    first bad point. Also estimates each point's request size."""
    out: list[_Checked] = []
    for i, p in enumerate(points):
        pid = normalise_id(p.id)
        vec = check_vector(p.vector, dim) if isinstance(pid, Ok) else pid
        if isinstance(pid, Err):
            return Err(pid.error.with_path(i).with_ctx(index=i))
        if isinstance(vec, Err):
            return Err(vec.error.with_path(i).with_ctx(index=i, id=pid.value))
        payload = dict(p.payload)
        try:
            encoded = _JSON.encode(payload)
        except (TypeError, ValueError) as exc:
            return Err(
                ErrInfo.from_exception(
                    exc,
                    code=codes.INVALID_INPUT,
                    msg=f"point {pid.value}: payload is not JSON-serialisable: {exc}",
                    path=(i,),
                    ctx={"index": i, "id": pid.value},
                )
            )
        size = len(encoded) + 12 * len(vec.value) + 64
        out.append(_Checked(pid.value, vec.value, payload, size))
    return Ok(out)


def batch_points(
    points: Sequence[_Checked],
    *,
    max_points: int = DEFAULT_MAX_BATCH_POINTS,
    max_bytes: int = DEFAULT_MAX_BATCH_BYTES,
) -> Result[list[list[_Checked]], ErrInfo]:
    """Split into batches of at most ``max_points`` points and ``max_bytes`` estimated bytes,
    in order. A single point over ``max_bytes`` -> ``Err(TOO_LARGE)``."""
    batches: list[list[_Checked]] = []
    cur: list[_Checked] = []
    size = 0
    for i, p in enumerate(points):
        if p.size > max_bytes:
            return Err(
                ErrInfo(
                    codes.TOO_LARGE,
                    f"point {p.id} is about {p.size} bytes, over the {max_bytes}-byte batch limit",
                    path=(i,),
                    ctx={"index": i, "id": p.id, "max_bytes": max_bytes},
                )
            )
        if cur and (len(cur) >= max_points or size + p.size > max_bytes):
            batches.append(cur)
            cur, size = [], 0
        cur.append(p)
        size += p.size
    if cur:
        batches.append(cur)
    return Ok(batches)
