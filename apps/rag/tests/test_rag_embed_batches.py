"""Batching before every embedding call is by count AND by size (rag-app.md)."""

from __future__ import annotations

from itertools import pairwise

from funcpipe_rag.pipelines._stages import embed_batches
from hypothesis import given
from hypothesis import strategies as st


@given(
    st.lists(st.text(max_size=60), max_size=80),
    st.integers(min_value=1, max_value=10),
    st.integers(min_value=1, max_value=120),
)
def test_embed_batches_cover_in_order_within_both_bounds(
    texts: list[str], max_items: int, max_chars: int
) -> None:
    spans = embed_batches(texts, max_items, max_chars)
    covered = [i for span in spans for i in span]
    assert covered == list(range(len(texts)))  # in order, each text exactly once
    for span in spans:
        assert 1 <= len(span) <= max_items  # never empty, never over the count
        chars = sum(len(texts[i]) for i in span)
        assert chars <= max_chars or len(span) == 1  # over the size only alone
    for a, b in pairwise(spans):
        # greedy: a batch was closed only because the next text did not fit
        nxt = len(texts[b.start])
        assert len(a) == max_items or sum(len(texts[i]) for i in a) + nxt > max_chars


def test_a_text_longer_than_the_size_goes_alone() -> None:
    assert embed_batches(["ab", "x" * 10, "cd"], 8, 5) == [range(1), range(1, 2), range(2, 3)]
