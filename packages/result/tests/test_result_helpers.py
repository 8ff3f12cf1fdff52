"""sequence, traverse, partition and try_call."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from funcpipe.result import Err, ErrInfo, Ok, Result, codes, partition, sequence, traverse, try_call
from hypothesis import given
from hypothesis import strategies as st

R = Result[int, str]
results: st.SearchStrategy[R] = st.one_of(
    st.builds(Ok, st.integers()), st.builds(Err, st.text(max_size=3))
)
kleisli: st.SearchStrategy[Callable[[int], R]] = st.functions(
    like=lambda x: Ok(x), returns=results, pure=True
)


@given(st.lists(results, max_size=8))
def test_sequence_all_values_or_first_err(rs: list[R]) -> None:
    errs = [r for r in rs if isinstance(r, Err)]
    expected: Result[list[int], str] = (
        errs[0] if errs else Ok([r.value for r in rs if isinstance(r, Ok)])
    )
    out = sequence(rs)
    assert out == expected
    if errs:
        assert out is errs[0]  # the first Err itself, not a copy


def test_sequence_stops_at_the_first_err() -> None:
    seen: list[int] = []

    def gen() -> Iterator[R]:
        items: list[R] = [Ok(1), Err("a"), Ok(2), Err("b")]
        for i, r in enumerate(items):
            seen.append(i)
            yield r

    assert sequence(gen()) == Err("a")
    assert seen == [0, 1]


@given(st.lists(st.integers(), max_size=8), kleisli)
def test_traverse_is_sequence_of_map(xs: list[int], f: Callable[[int], R]) -> None:
    assert traverse(xs, f) == sequence([f(x) for x in xs])


@given(st.lists(st.integers(), max_size=8), kleisli)
def test_traverse_calls_f_up_to_the_first_err(xs: list[int], f: Callable[[int], R]) -> None:
    calls: list[int] = []

    def spy(x: int) -> R:
        calls.append(x)
        return f(x)

    traverse(xs, spy)
    first_err = next((i for i, x in enumerate(xs) if isinstance(f(x), Err)), None)
    assert calls == (xs if first_err is None else xs[: first_err + 1])


@given(st.lists(results, max_size=8))
def test_partition_keeps_everything_in_order(rs: list[R]) -> None:
    oks, errs = partition(rs)
    assert oks == [r.value for r in rs if isinstance(r, Ok)]
    assert errs == [r.error for r in rs if isinstance(r, Err)]
    assert len(oks) + len(errs) == len(rs)


def test_empty_inputs() -> None:
    assert sequence([]) == Ok([])
    assert traverse([], lambda x: Ok(x)) == Ok([])
    assert partition([]) == ([], [])


@given(st.integers())
def test_try_call_ok(x: int) -> None:
    assert try_call(lambda: x * 2) == Ok(x * 2)


@given(st.text(max_size=8))
def test_try_call_exception_becomes_unexpected(text: str) -> None:
    exc = ValueError(text)

    def boom() -> int:
        raise exc

    out = try_call(boom)
    assert isinstance(out, Err)
    assert out.error.code == codes.UNEXPECTED
    assert out.error.cause is exc
    assert out.error == ErrInfo.from_exception(exc)


def test_try_call_code_stage_path() -> None:
    out = try_call(lambda: int("x"), code=codes.PARSE_ERROR, stage="parse", path=("k", 0))
    assert isinstance(out, Err)
    assert (out.error.code, out.error.stage, out.error.path) == (
        codes.PARSE_ERROR,
        "parse",
        ("k", 0),
    )


def test_try_call_lets_base_exceptions_through() -> None:
    def interrupt() -> int:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        try_call(interrupt)
