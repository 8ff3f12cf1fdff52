"""Laws of the search data in funcpipe.ports: RRF fusion and the per-group cap (Hypothesis)."""

from __future__ import annotations

import uuid

import pytest
from funcpipe.ports import (
    Nearest,
    Rrf,
    ScoredPoint,
    SearchQuery,
    SparseVector,
    cap_groups,
    rrf_fuse,
)
from hypothesis import given
from hypothesis import strategies as st

_IDS = [str(uuid.UUID(int=i + 1)) for i in range(30)]


@st.composite
def ranked_lists(draw: st.DrawFn) -> list[list[ScoredPoint]]:
    n = draw(st.integers(1, 3))
    out = []
    for _ in range(n):
        ids = draw(st.lists(st.sampled_from(_IDS), unique=True, max_size=12))
        out.append([ScoredPoint(i, 1.0, {"g": int(i[-1], 16) % 4}) for i in ids])
    return out


@given(ranked_lists(), st.integers(1, 80), st.none() | st.floats(0.1, 5.0))
def test_rrf_fuse_is_the_union_best_first_with_the_formula(
    lists: list[list[ScoredPoint]], k: int, w: float | None
) -> None:
    fusion = Rrf(k, None if w is None else tuple([w] + [1.0] * (len(lists) - 1)))
    fused = rrf_fuse(lists, fusion)
    assert {h.id for h in fused} == {h.id for hits in lists for h in hits}
    assert [h.score for h in fused] == sorted((h.score for h in fused), reverse=True)
    for h in fused:
        want = sum(
            1.0 / ((rank + 1.0) / fusion.weight(i) + k - 1.0)
            for i, hits in enumerate(lists)
            for rank, p in enumerate(hits)
            if p.id == h.id
        )
        assert h.score == pytest.approx(want)


@given(ranked_lists(), st.integers(1, 10), st.integers(1, 3))
def test_cap_groups_is_the_best_prefix_under_the_cap(
    lists: list[list[ScoredPoint]], limit: int, size: int
) -> None:
    hits = lists[0]
    q = SearchQuery((Nearest([1.0]),), limit=limit, group_by="g", group_size=size)
    got = cap_groups(hits, q)
    assert len(got) <= limit
    counts: dict[object, int] = {}
    for h in got:
        counts[h.payload["g"]] = counts.get(h.payload["g"], 0) + 1
    assert all(c <= size for c in counts.values())
    # greedy and maximal: every hit left out before the last kept one had a full group
    kept = {h.id for h in got}
    seen: dict[object, int] = {}
    for h in hits:
        if len(seen) and sum(seen.values()) == len(got):
            break
        g = h.payload["g"]
        if h.id in kept:
            seen[g] = seen.get(g, 0) + 1
        else:
            assert seen.get(g, 0) == size
    assert [h.id for h in got] == [h.id for h in hits if h.id in kept]  # order kept


def test_bad_search_data_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="distinct"):
        SparseVector((1, 1), (1.0, 2.0))
    with pytest.raises(ValueError, match="indices"):
        SparseVector((-1,), (1.0,))
    with pytest.raises(ValueError, match="weights"):
        SearchQuery((Nearest([1.0]), Nearest([1.0])), Rrf(60, (1.0,)))
    with pytest.raises(ValueError, match="needs `using`"):
        Nearest(SparseVector((1,), (1.0,)))
    with pytest.raises(ValueError, match="k must be"):
        Rrf(0)
