"""A ``Halt`` passes through a batch stage untouched: the stage's function sees the rest."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result

from ._types import Halt

A = TypeVar("A")
B = TypeVar("B")


def passing_halts(
    f: Callable[[list[A]], AsyncPlan[Sequence[Result[B, ErrInfo]]]],
) -> Callable[[list[A | Halt]], AsyncPlan[list[Result[B | Halt, ErrInfo]]]]:
    """``f`` over a batch's items that are not ``Halt``; the halts follow its results, in
    order (a batch of only halts does not call ``f``)."""

    def _batch(items: list[A | Halt]) -> AsyncPlan[list[Result[B | Halt, ErrInfo]]]:
        halts: list[Result[B | Halt, ErrInfo]] = [Ok(x) for x in items if isinstance(x, Halt)]
        rest = [x for x in items if not isinstance(x, Halt)]

        async def _run() -> Result[list[Result[B | Halt, ErrInfo]], ErrInfo]:
            if not rest:
                return Ok(halts)
            got = await f(rest)()
            if isinstance(got, Err):
                return got
            return Ok([*got.value, *halts])

        return _run

    return _batch
