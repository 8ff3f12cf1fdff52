"""The ``VectorStore`` port of ``FakeVectorStore``: collections in memory, exact search."""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field

from funcpipe.ports import (
    Distance,
    Filter,
    PayloadIndexKind,
    Point,
    Record,
    ScoredPoint,
    SearchQuery,
    SparseVector,
    cap_groups,
    rrf_fuse,
)
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass
class Collection:
    """One collection of the fake: its dimension, distance and points (id -> vector, payload)."""

    dim: int
    distance: Distance
    points: dict[str, tuple[list[float], dict[str, object]]] = field(default_factory=dict)
    sparse_names: frozenset[str] = frozenset()
    sparse: dict[str, dict[str, SparseVector]] = field(default_factory=dict)  # name -> id -> v


def invalid(msg: str, index: int | None = None) -> Err[ErrInfo]:
    """``Err(INVALID_INPUT)``; with ``index``: ``path=(index,)`` and ``ctx["index"]``."""
    if index is None:
        return Err(ErrInfo(codes.INVALID_INPUT, msg))
    return Err(ErrInfo(codes.INVALID_INPUT, msg, path=(index,), ctx={"index": index}))


def check_name(name: str) -> Result[str, ErrInfo]:
    """The collection-name rule every backend applies."""
    ok = isinstance(name, str) and _NAME.match(name)
    return Ok(name) if ok else invalid(f"invalid collection name {name!r}")


def canonical_ids(ids: Sequence[object]) -> Result[list[str], ErrInfo]:
    """Canonical lower-case UUID strings, duplicates dropped, first-seen order kept."""
    out: dict[str, None] = {}
    for i, raw in enumerate(ids):
        try:
            out[str(uuid.UUID(str(raw)))] = None
        except ValueError:
            return invalid(f"point id {raw!r} is not a UUID string", i)
    return Ok(list(out))


def check_vector(
    vector: Sequence[float], dim: int, index: int | None = None
) -> Result[list[float], ErrInfo]:
    """Finite numbers of length ``dim``: else INVALID_INPUT / DIMENSION_MISMATCH."""
    try:
        vec = [float(x) for x in vector]
    except (TypeError, ValueError):
        return invalid("vector must be a sequence of numbers", index)
    if len(vec) != dim:
        path = () if index is None else (index,)
        msg = f"vector has {len(vec)} dimensions, collection has {dim}"
        return Err(ErrInfo(codes.DIMENSION_MISMATCH, msg, path=path, ctx={"expected_dim": dim}))
    if not all(math.isfinite(x) for x in vec):
        return invalid("vector must be finite", index)
    return Ok(vec)


def stored(vec: list[float], distance: Distance) -> list[float]:
    """What a collection keeps: unit vectors for cosine (as Qdrant does), else as given."""
    if distance != "cosine":
        return vec
    norm = math.sqrt(sum(x * x for x in vec))
    return [x / norm for x in vec] if norm else vec


def check_points(
    points: Sequence[Point], col: Collection
) -> Result[list[tuple[str, list[float], dict[str, object]]], ErrInfo]:
    """Validated ``(id, stored vector, payload)`` per point; the first bad one -> Err."""
    out: list[tuple[str, list[float], dict[str, object]]] = []
    for i, p in enumerate(points):
        pid = canonical_ids([p.id])
        if isinstance(pid, Err):
            return invalid(pid.error.msg, i)
        vec = check_vector(p.vector, col.dim, i)
        if isinstance(vec, Err):
            return vec
        payload = dict(p.payload)
        try:
            json.dumps(payload, allow_nan=False)
        except (TypeError, ValueError) as exc:
            return invalid(f"point {p.id}: payload is not JSON-serialisable: {exc}", i)
        out.append((pid.value[0], stored(vec.value, col.distance), payload))
    return Ok(out)


def score(distance: Distance, a: list[float], b: list[float]) -> float:
    """Cosine / dot (higher is better) or euclid (the distance, lower is better)."""
    if distance == "euclid":
        return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))
    if distance == "cosine":
        b = stored(b, "cosine")
    return sum(x * y for x, y in zip(a, b, strict=True))


def search(
    col: Collection, vector: list[float], flt: Filter | None, limit: int
) -> list[ScoredPoint]:
    """The exact top ``limit`` hits matching ``flt``, best first (ties by id)."""
    hits = [
        ScoredPoint(pid, score(col.distance, v, vector), payload)
        for pid, (v, payload) in col.points.items()
        if flt is None or flt.matches(payload)
    ]
    sign = 1.0 if col.distance == "euclid" else -1.0
    hits.sort(key=lambda h: (sign * h.score, h.id))
    return hits[:limit]


def _idf(col: Collection, name: str, terms: tuple[int, ...]) -> dict[int, float]:
    """Qdrant's IDF over the points that have the sparse vector ``name``."""
    vecs = col.sparse.get(name, {})
    n = len(vecs)
    out: dict[int, float] = {}
    for t in terms:
        df = sum(1 for v in vecs.values() if t in v.indices)
        out[t] = math.log((n - df + 0.5) / (df + 0.5) + 1)
    return out


def ranked(
    col: Collection, vector: Sequence[float] | SparseVector, using: str | None, flt: Filter | None
) -> list[ScoredPoint]:
    """Every matching point ranked by one vector, best first (ties by id); a sparse ranking
    holds only the points sharing a term with the query (as Qdrant's)."""
    if not isinstance(vector, SparseVector):
        return search(col, [float(x) for x in vector], flt, len(col.points))
    assert using is not None
    vecs = col.sparse.get(using, {})
    idf = _idf(col, using, vector.indices)
    hits = [
        ScoredPoint(pid, v.dot(vector, idf), col.points[pid][1])
        for pid, v in vecs.items()
        if set(v.indices) & set(vector.indices) and (flt is None or flt.matches(col.points[pid][1]))
    ]
    hits.sort(key=lambda h: (-h.score, h.id))
    return hits


def run_search(col: Collection, query: SearchQuery) -> list[ScoredPoint]:
    """The exact meaning of a ``SearchQuery`` (see ``funcpipe.ports._search``)."""
    lists = [ranked(col, n.vector, n.using, query.filter) for n in query.prefetch]
    if not query.fused:
        return cap_groups(lists[0], query)
    fused = rrf_fuse(
        [hits[: n.limit] for hits, n in zip(lists, query.prefetch, strict=True)], query.fusion
    )
    return cap_groups(fused, query)


def records(
    col: Collection, ids: Sequence[str], with_payload: bool, with_vectors: bool
) -> list[Record]:
    """The stored points of ``ids`` (known ones only, in the order given)."""
    out: list[Record] = []
    for pid in ids:
        if pid in col.points:
            vec, payload = col.points[pid]
            out.append(
                Record(
                    pid, dict(payload) if with_payload else {}, list(vec) if with_vectors else None
                )
            )
    return out


async def scroll_pages(
    col: Collection, flt: Filter | None, with_payload: bool
) -> AsyncIterator[Result[Record, ErrInfo]]:
    """Every matching point once, in id order."""
    for pid in sorted(col.points):
        payload = col.points[pid][1]
        if flt is None or flt.matches(payload):
            yield Ok(Record(pid, dict(payload) if with_payload else {}))


def new_collection(
    dim: int,
    distance: Distance,
    _indexes: Mapping[str, PayloadIndexKind],
    sparse: Sequence[str] = (),
) -> Collection:
    """A fresh collection (payload indexes are accepted and ignored: search is exact)."""
    return Collection(dim, distance, sparse_names=frozenset(sparse))
