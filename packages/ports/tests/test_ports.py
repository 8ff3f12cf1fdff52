"""funcpipe.ports: Protocols and immutable data only; the data types' laws."""

from __future__ import annotations

import dataclasses

import funcpipe.ports as ports
import pytest
from funcpipe.ports import Filter, Point
from hypothesis import given
from hypothesis import strategies as st

SCALARS = st.one_of(st.text(max_size=3), st.integers(-3, 3), st.booleans())


def test_public_names_are_importable() -> None:
    assert all(hasattr(ports, n) for n in ports.__all__)


def test_point_is_frozen() -> None:
    p = Point("00000000-0000-0000-0000-000000000001", [1.0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.id = "x"  # type: ignore[misc]
    assert dict(p.payload) == {}


@given(st.dictionaries(st.text(min_size=1, max_size=3), SCALARS, max_size=3))
def test_a_filter_of_a_payloads_own_values_matches_it(payload: dict[str, object]) -> None:
    """Law: ``Filter(must=payload).matches(payload)``; with ``must_not`` it never matches,
    unless empty (the empty filter matches everything)."""
    assert Filter(must=payload).matches(payload)  # type: ignore[arg-type]
    assert Filter(must_not=payload).matches(payload) == (not payload)  # type: ignore[arg-type]


def test_invalid_filter_values_are_refused() -> None:
    with pytest.raises(ValueError, match="must match"):
        Filter(must={"a": 1.5})  # type: ignore[dict-item]
