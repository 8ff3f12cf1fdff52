"""Laws of Ok/Err: functor (map), monad (and_then), the error-side mirror, unwrap, matching."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from funcpipe.result import Err, Ok, Result, UnwrapError
from hypothesis import given
from hypothesis import strategies as st

R = Result[int, str]

values = st.integers()
errors = st.text(max_size=5)
results: st.SearchStrategy[R] = st.one_of(st.builds(Ok, values), st.builds(Err, errors))
# Pure generated functions: same input, same output (Hypothesis memoises them).
int_fns: st.SearchStrategy[Callable[[int], int]] = st.functions(
    like=lambda x: x, returns=values, pure=True
)
err_fns: st.SearchStrategy[Callable[[str], str]] = st.functions(
    like=lambda e: e, returns=errors, pure=True
)
kleisli: st.SearchStrategy[Callable[[int], R]] = st.functions(
    like=lambda x: Ok(x), returns=results, pure=True
)
err_kleisli: st.SearchStrategy[Callable[[str], R]] = st.functions(
    like=lambda e: Ok(0), returns=results, pure=True
)


# --- functor laws (map) ------------------------------------------------------------------


@given(results)
def test_map_identity(m: R) -> None:
    assert m.map(lambda x: x) == m


@given(results, int_fns, int_fns)
def test_map_composition(m: R, f: Callable[[int], int], g: Callable[[int], int]) -> None:
    assert m.map(f).map(g) == m.map(lambda x: g(f(x)))


@given(errors, int_fns)
def test_map_never_calls_f_on_err(e: str, f: Callable[[int], int]) -> None:
    calls: list[int] = []

    def spy(x: int) -> int:
        calls.append(x)
        return f(x)

    assert Err(e).map(spy) == Err(e)
    assert calls == []


# --- monad laws (and_then / bind) --------------------------------------------------------


@given(values, kleisli)
def test_left_identity(x: int, f: Callable[[int], R]) -> None:
    assert Ok(x).and_then(f) == f(x)


@given(results)
def test_right_identity(m: R) -> None:
    assert m.and_then(Ok) == m


@given(results, kleisli, kleisli)
def test_associativity(m: R, f: Callable[[int], R], g: Callable[[int], R]) -> None:
    assert m.and_then(f).and_then(g) == m.and_then(lambda x: f(x).and_then(g))


@given(results, kleisli)
def test_bind_is_and_then(m: R, f: Callable[[int], R]) -> None:
    assert m.bind(f) == m.and_then(f)


@given(results, int_fns)
def test_map_is_bind_of_ok(m: R, f: Callable[[int], int]) -> None:
    assert m.map(f) == m.and_then(lambda x: Ok(f(x)))


# --- the error side mirrors the value side -----------------------------------------------


@given(results)
def test_map_err_identity(m: R) -> None:
    assert m.map_err(lambda e: e) == m


@given(results, err_fns, err_fns)
def test_map_err_composition(m: R, f: Callable[[str], str], g: Callable[[str], str]) -> None:
    assert m.map_err(f).map_err(g) == m.map_err(lambda e: g(f(e)))


@given(errors, err_kleisli)
def test_or_else_left_identity(e: str, f: Callable[[str], R]) -> None:
    assert Err(e).or_else(f) == f(e)


@given(results)
def test_or_else_right_identity(m: R) -> None:
    assert m.or_else(Err) == m


@given(results, err_kleisli, err_kleisli)
def test_or_else_associativity(m: R, f: Callable[[str], R], g: Callable[[str], R]) -> None:
    assert m.or_else(f).or_else(g) == m.or_else(lambda e: f(e).or_else(g))


def _swap(m: R) -> Result[str, int]:
    return Ok(m.error) if isinstance(m, Err) else Err(m.value)


@given(results, int_fns)
def test_map_err_is_map_through_swap(m: R, f: Callable[[int], int]) -> None:
    """Symmetry: map on one side is map_err on the swapped result."""
    assert _swap(m.map(f)) == _swap(m).map_err(f)


@given(results, kleisli)
def test_or_else_is_and_then_through_swap(m: R, f: Callable[[int], R]) -> None:
    assert _swap(m.and_then(f)) == _swap(m).or_else(lambda x: _swap(f(x)))


@given(values, err_fns, err_kleisli)
def test_ok_ignores_error_side(x: int, f: Callable[[str], str], g: Callable[[str], R]) -> None:
    m: R = Ok(x)
    assert m.map_err(f) is m
    assert m.or_else(g) is m


# --- unwrapping and predicates -----------------------------------------------------------


@given(values, values)
def test_unwrap_on_ok(x: int, default: int) -> None:
    m: R = Ok(x)
    assert m.unwrap() == x
    assert m.unwrap_or(default) == x
    assert m.unwrap_or_else(len) == x
    assert m.is_ok()
    assert not m.is_err()


@given(errors, values)
def test_unwrap_on_err(e: str, default: int) -> None:
    m: R = Err(e)
    assert m.unwrap_or(default) == default
    assert m.unwrap_or_else(len) == len(e)
    assert m.is_err()
    assert not m.is_ok()
    with pytest.raises(UnwrapError) as info:
        m.unwrap()
    assert info.value.error == e
    assert repr(e) in str(info.value)


def test_unwrap_error_is_an_exception_with_the_error() -> None:
    err = Err(ValueError("boom"))
    with pytest.raises(UnwrapError, match="boom") as info:
        err.unwrap()
    assert info.value.error is err.error


# --- data shape --------------------------------------------------------------------------


@given(results)
def test_pattern_matching_by_keyword(m: R) -> None:
    match m:
        case Ok(value=v):
            assert isinstance(m, Ok)
            assert v == m.value
        case Err(error=e):
            assert isinstance(m, Err)
            assert e == m.error
        case _:  # pragma: no cover - Result has exactly two variants
            pytest.fail("unreachable")


def test_pattern_matching_positional() -> None:
    match Ok(3):
        case Ok(v):
            assert v == 3
    match Err("x"):
        case Err(e):
            assert e == "x"


@given(values)
def test_frozen_slotted_and_distinct(x: int) -> None:
    ok = Ok(x)
    assert ok == Ok(x)
    assert hash(ok) == hash(Ok(x))
    variants: list[object] = [ok, Err(x)]
    assert variants[0] != variants[1]
    with pytest.raises(AttributeError):
        ok.value = x + 1  # type: ignore[misc]
    assert not hasattr(ok, "__dict__")
    assert not hasattr(Err(x), "__dict__")


def test_generic_subscription_builds_instances() -> None:
    assert Ok[int](1) == Ok(1)
    assert Err[str]("e") == Err("e")
