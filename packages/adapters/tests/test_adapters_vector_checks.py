"""vectors: the fast paths of id and vector checks agree with their plain definitions."""

from __future__ import annotations

import math
import uuid

from funcpipe.adapters.vectors import check_vector, normalise_id
from funcpipe.result import Err, Ok, codes
from hypothesis import given
from hypothesis import strategies as st

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**6),
    st.booleans(),
)


def _reference_vector(vector: list[object] | tuple[object, ...], dim: int | None) -> str | None:
    """The plain definition: None when valid, else the expected error code."""
    try:
        vec = [float(x) for x in vector]  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return codes.INVALID_INPUT
    if dim is not None and len(vec) != dim:
        return codes.DIMENSION_MISMATCH
    if not vec or not all(math.isfinite(x) for x in vec):
        return codes.INVALID_INPUT
    return None


@given(
    st.lists(numbers, max_size=12) | st.lists(st.floats(-1e308, 1e308), max_size=12),
    st.sampled_from([None, 0, 3, 4]),
    st.booleans(),
)
def test_check_vector_agrees_with_its_definition(
    values: list[object], dim: int | None, as_tuple: bool
) -> None:
    vector = tuple(values) if as_tuple else values
    want = _reference_vector(vector, dim)
    got = check_vector(vector, dim)  # type: ignore[arg-type]
    if want is None:
        assert isinstance(got, Ok), got
        assert [float(x) for x in got.value] == [float(x) for x in values]  # type: ignore[arg-type]
    else:
        assert isinstance(got, Err)
        assert got.error.code == want


def test_check_vector_rejects_non_numbers_on_both_paths() -> None:
    for bad in (["a", "b"], [1.0, "x"], [1.0, None], [complex(1, 2), 1.0], ("a",)):
        got = check_vector(bad, None)  # type: ignore[arg-type]
        assert isinstance(got, Err)
        assert got.error.code == codes.INVALID_INPUT


@given(st.uuids(), st.sampled_from(["canon", "upper", "hex", "braces", "urn"]))
def test_normalise_id_gives_the_canonical_form(u: uuid.UUID, form: str) -> None:
    text = {
        "canon": str(u),
        "upper": str(u).upper(),
        "hex": u.hex,
        "braces": "{" + str(u) + "}",
        "urn": u.urn,
    }[form]
    assert normalise_id(text) == Ok(str(u))
    assert normalise_id(u) == Ok(str(u))


@given(st.text(max_size=40))
def test_normalise_id_refuses_what_is_not_a_uuid(text: str) -> None:
    try:
        want: str | None = str(uuid.UUID(text))
    except ValueError:
        want = None
    got = normalise_id(text)
    if want is None:
        assert isinstance(got, Err)
        assert got.error.code == codes.INVALID_INPUT
    else:
        assert got == Ok(want)
