"""Helpers over collections of Results."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from . import codes
from ._errinfo import ErrInfo
from ._result import Err, Ok, Result

T = TypeVar("T")
U = TypeVar("U")
E = TypeVar("E")


def sequence(results: Iterable[Result[T, E]]) -> Result[list[T], E]:
    """All values in order, or the first ``Err`` (later items are not inspected)."""
    values: list[T] = []
    for r in results:
        if isinstance(r, Err):
            return r
        values.append(r.value)
    return Ok(values)


def traverse(items: Iterable[T], f: Callable[[T], Result[U, E]]) -> Result[list[U], E]:
    """``sequence(map(f, items))``, stopping at the first ``Err`` without calling ``f`` again."""
    values: list[U] = []
    for item in items:
        r = f(item)
        if isinstance(r, Err):
            return r
        values.append(r.value)
    return Ok(values)


def partition(results: Iterable[Result[T, E]]) -> tuple[list[T], list[E]]:
    """Split into (values, errors), each in input order."""
    oks: list[T] = []
    errs: list[E] = []
    for r in results:
        if isinstance(r, Ok):
            oks.append(r.value)
        else:
            errs.append(r.error)
    return oks, errs


def try_call(
    thunk: Callable[[], T],
    *,
    code: str = codes.UNEXPECTED,
    stage: str = "",
    path: tuple[str | int, ...] = (),
) -> Result[T, ErrInfo]:
    """Call ``thunk``; an ``Exception`` becomes ``Err(ErrInfo(code, ...))`` (default UNEXPECTED).

    ``BaseException``s that are not ``Exception`` (cancellation, KeyboardInterrupt) propagate.
    """
    try:
        return Ok(thunk())
    except Exception as exc:
        return Err(ErrInfo.from_exception(exc, code=code, stage=stage, path=path))
