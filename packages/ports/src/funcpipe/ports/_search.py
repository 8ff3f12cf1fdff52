"""A store search as data: ranked lists (dense or named sparse), RRF fusion, per-group cap.

The meaning (every backend implements exactly this; the contract suite checks it):

- One ``Nearest``: the ``limit`` best points by that vector (its own ``limit`` is unused).
- Several: each ranks its own top ``Nearest.limit`` matching points; the union is fused by
  weighted reciprocal rank fusion, a point scoring ``sum(1 / ((rank + 1) / w + k - 1))`` over
  the lists it is in (``rank`` from 0; with ``w == 1`` the classic ``1 / (k + rank)``), best
  first; the top ``limit`` are returned. Qdrant's formula, on server, Edge and local mode.
- ``group_by``: at most ``group_size`` hits share one value of that payload field (points
  without the field are one group); the cap is applied to the whole ranked candidate list
  before it is cut to ``limit``, so the result is the best ``limit`` hits under the cap.
- ``filter`` applies to every list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ._sparse import SparseVector
from ._vectors import Filter, ScoredPoint


@dataclass(frozen=True, slots=True)
class Nearest:
    """One ranked list: the dense vector (``using=None``) or the sparse vector named
    ``using``; ``limit`` candidates when fused."""

    vector: Sequence[float] | SparseVector
    using: str | None = None
    limit: int = 50

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"Nearest: limit must be >= 1, got {self.limit}")
        if isinstance(self.vector, SparseVector) != (self.using is not None):
            raise ValueError("Nearest: a SparseVector needs `using` (its name); a dense one not")
        if not isinstance(self.vector, SparseVector):
            object.__setattr__(self, "vector", tuple(self.vector))


@dataclass(frozen=True, slots=True)
class Rrf:
    """Reciprocal rank fusion: ``k >= 1``; ``weights`` (one per list, each > 0) or None (1s)."""

    k: int = 60
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"Rrf: k must be an int >= 1, got {self.k!r}")
        if self.weights is not None:
            w = tuple(float(x) for x in self.weights)
            if not all(x > 0 for x in w):
                raise ValueError(f"Rrf: weights must be > 0, got {w}")
            object.__setattr__(self, "weights", w)

    def weight(self, i: int) -> float:
        return 1.0 if self.weights is None else self.weights[i]


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to rank (``prefetch``: one or more lists), how to fuse, filter, cap and cut.

    Invalid combinations raise ``ValueError`` at construction (no lists, ``limit < 1``,
    ``group_size < 1``, weights not one per list).
    """

    prefetch: tuple[Nearest, ...]
    fusion: Rrf = field(default_factory=Rrf)
    filter: Filter | None = None
    limit: int = 10
    group_by: str | None = None
    group_size: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefetch", tuple(self.prefetch))
        if not self.prefetch:
            raise ValueError("SearchQuery: needs at least one Nearest")
        if self.limit < 1 or self.group_size < 1:
            raise ValueError("SearchQuery: limit and group_size must be >= 1")
        w = self.fusion.weights
        if w is not None and len(w) != len(self.prefetch):
            raise ValueError(f"SearchQuery: {len(w)} weights for {len(self.prefetch)} lists")
        if self.group_by is not None and not self.group_by:
            raise ValueError("SearchQuery: group_by must be a non-empty field name")

    @property
    def fused(self) -> bool:
        return len(self.prefetch) > 1

    @property
    def candidates(self) -> int:
        """How many fused candidates there can be at most (the union of the lists)."""
        return sum(n.limit for n in self.prefetch)

    @property
    def sparse_names(self) -> frozenset[str]:
        return frozenset(n.using for n in self.prefetch if n.using is not None)


def rrf_score(rank: int, weight: float, k: int) -> float:
    """One list's contribution for a point at 0-based ``rank`` (Qdrant's weighted RRF)."""
    return 1.0 / ((rank + 1.0) / weight + k - 1.0)


def rrf_fuse(lists: Sequence[Sequence[ScoredPoint]], fusion: Rrf) -> list[ScoredPoint]:
    """Fuse ranked lists (each best first) into one, best first; ties by id."""
    scores: dict[str, float] = {}
    first: dict[str, ScoredPoint] = {}
    for i, hits in enumerate(lists):
        for rank, h in enumerate(hits):
            scores[h.id] = scores.get(h.id, 0.0) + rrf_score(rank, fusion.weight(i), fusion.k)
            first.setdefault(h.id, h)
    order = sorted(scores, key=lambda pid: (-scores[pid], pid))
    return [ScoredPoint(pid, scores[pid], first[pid].payload) for pid in order]


def group_key(payload: Mapping[str, object], group_by: str) -> str:
    """The group of a hit: its ``group_by`` payload value, canonically (missing: "null")."""
    return json.dumps(payload.get(group_by), sort_keys=True, default=str)


def cap_groups(hits: Sequence[ScoredPoint], query: SearchQuery) -> list[ScoredPoint]:
    """``hits`` (best first) with at most ``group_size`` per group, cut to ``limit``."""
    if query.group_by is None:
        return list(hits[: query.limit])
    seen: dict[str, int] = {}
    out: list[ScoredPoint] = []
    for h in hits:
        key = group_key(h.payload, query.group_by)
        if seen.get(key, 0) < query.group_size:
            seen[key] = seen.get(key, 0) + 1
            out.append(h)
            if len(out) == query.limit:
                break
    return out


def fetch_sizes(query: SearchQuery, total: int) -> list[int]:
    """How many ranked hits a backend asks for, in turn, to fill a capped result of one
    list: ``limit`` when uncapped; else 4x, 16x, ... the limit, up to ``total`` points."""
    if query.group_by is None:
        return [query.limit]
    sizes: list[int] = []
    n = query.limit * 4
    while True:
        sizes.append(min(n, max(total, 1)))
        if n >= total:
            return sizes
        n *= 4
