"""funcpipe.adapters.vectors: the VectorStore port and its data types, and the validation
every backend shares (no optional deps).

The port and its data types are defined once, in ``funcpipe.ports``, and re-exported here so
existing imports keep working. Implementations: ``funcpipe.adapters.qdrant.QdrantStore``
(extra ``[qdrant]``) and ``funcpipe.adapters.edge.EdgeStore`` (extra ``[edge]``). Both pass one
contract test suite.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from funcpipe.ports import (
    Distance,
    Filter,
    MatchValue,
    Nearest,
    PayloadIndexKind,
    Point,
    Record,
    Rrf,
    Scalar,
    ScoredPoint,
    SearchQuery,
    SparseVector,
    VectorStore,
    cap_groups,
    fetch_sizes,
    rrf_fuse,
)
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

__all__ = [
    "DEFAULT_MAX_BATCH_BYTES",
    "DEFAULT_MAX_BATCH_POINTS",
    "Distance",
    "Filter",
    "MatchValue",
    "Nearest",
    "PayloadIndexKind",
    "Point",
    "Record",
    "Rrf",
    "Scalar",
    "ScoredPoint",
    "SearchQuery",
    "SparseVector",
    "VectorStore",
    "batch_points",
    "cap_groups",
    "check_collection_name",
    "checked_batches",
    "check_search",
    "check_sparse_names",
    "fetch_sizes",
    "rrf_fuse",
    "check_vector",
    "normalise_id",
    "normalise_ids",
    "validate_points",
]

DEFAULT_MAX_BATCH_POINTS = 256
DEFAULT_MAX_BATCH_BYTES = 8 * 1024 * 1024
"""Upsert batches stay well under Qdrant's default 32 MiB request limit."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_JSON = json.JSONEncoder(allow_nan=False)  # reused: json.dumps(..., allow_nan=False) builds one


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


def check_sparse_names(
    collection: str, have: frozenset[str], want: Sequence[str] | frozenset[str]
) -> Result[None, ErrInfo]:
    """Every name in ``want`` is a sparse vector of the collection, else
    ``Err(INVALID_INPUT)`` with ``ctx["missing_sparse"]`` (sorted names)."""
    missing = sorted(set(want) - have)
    if not missing:
        return Ok(None)
    return _invalid(
        f"collection {collection!r} has no sparse vector {', '.join(map(repr, missing))}"
        " (its vectors are fixed when it is created: create it again with them)",
        collection=collection,
        missing_sparse=missing,
    )


def check_search(
    collection: str, query: SearchQuery, dim: int | None, sparse: frozenset[str]
) -> Result[SearchQuery, ErrInfo]:
    """A query's dense vectors have the collection's dimension and its sparse names exist."""
    named = check_sparse_names(collection, sparse, query.sparse_names)
    if isinstance(named, Err):
        return named
    for n in query.prefetch:
        if not isinstance(n.vector, SparseVector):
            vec = check_vector(n.vector, dim)
            if isinstance(vec, Err):
                return Err(vec.error.with_ctx(collection=collection))
    return Ok(query)


@dataclass(frozen=True, slots=True)
class _Checked:
    id: str
    vector: list[float]
    payload: dict[str, object]
    size: int
    sparse: dict[str, SparseVector]


def validate_points(
    points: Sequence[Point], dim: int | None, sparse: frozenset[str] | None = None
) -> Result[list[_Checked], ErrInfo]:
    """Check ids, vectors, sparse names (when ``sparse``, the collection's, is given) and
    JSON-able payloads; ``path[0]`` and ``ctx["index"]`` locate the first bad point. Also
    estimates each point's request size."""
    out: list[_Checked] = []
    for i, p in enumerate(points):
        pid = normalise_id(p.id)
        vec = check_vector(p.vector, dim) if isinstance(pid, Ok) else pid
        if isinstance(pid, Err):
            return Err(pid.error.with_path(i).with_ctx(index=i))
        if isinstance(vec, Err):
            return Err(vec.error.with_path(i).with_ctx(index=i, id=pid.value))
        unknown = sorted(set(p.sparse) - sparse) if sparse is not None else []
        if unknown:
            return Err(
                ErrInfo(
                    codes.INVALID_INPUT,
                    f"point {pid.value}: the collection has no sparse vector {unknown[0]!r}",
                    path=(i,),
                    ctx={"index": i, "id": pid.value, "missing_sparse": unknown},
                )
            )
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
        extra = sum(16 * len(v.indices) for v in p.sparse.values())
        size = len(encoded) + 12 * len(vec.value) + 64 + extra
        out.append(_Checked(pid.value, vec.value, payload, size, dict(p.sparse)))
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


def checked_batches(
    collection: str,
    points: Sequence[Point],
    dim: int | None,
    sparse: frozenset[str],
    *,
    max_points: int,
    max_bytes: int,
) -> Result[list[list[_Checked]], ErrInfo]:
    """``validate_points`` (an Err gains ``ctx["collection"]``), then ``batch_points``: the
    upsert steps every backend takes."""
    checked = validate_points(points, dim, sparse)
    if isinstance(checked, Err):
        return Err(checked.error.with_ctx(collection=collection))
    return batch_points(checked.value, max_points=max_points, max_bytes=max_bytes)
