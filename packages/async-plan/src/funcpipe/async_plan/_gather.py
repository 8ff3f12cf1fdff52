"""Bounded concurrent gather of plans."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TypeVar, cast

from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from ._plan import AsyncPlan

A = TypeVar("A")


async def run_guarded(plan: AsyncPlan[A], index: int | None = None) -> Result[A, ErrInfo]:
    """Await ``plan()``; an ``Exception`` becomes ``Err(UNEXPECTED)``; cancellation propagates."""
    try:
        return await plan()
    except Exception as exc:
        path: tuple[str | int, ...] = () if index is None else (index,)
        return Err(ErrInfo.from_exception(exc, code=codes.UNEXPECTED, path=path))


async def _cancel_and_wait(tasks: list[asyncio.Task[Result[A, ErrInfo]]]) -> None:
    """Cancel ``tasks`` and wait until every one has finished, even if cancelled meanwhile."""
    for task in tasks:
        task.cancel()
    interrupted = False
    while pending := [t for t in tasks if not t.done()]:
        try:
            await asyncio.wait(pending)
        except asyncio.CancelledError:
            interrupted = True
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio logs nothing
    if interrupted:
        raise asyncio.CancelledError


def async_gather(plans: Sequence[AsyncPlan[A]], *, concurrency: int = 16) -> AsyncPlan[list[A]]:
    """Run ``plans`` with at most ``concurrency`` in flight; values in input order.

    The lowest-index ``Err`` wins: once plan i fails, plans after i are cancelled or never
    started, plans before i still run. A raised exception becomes ``Err(UNEXPECTED)`` with
    ``path=(index,)``. On return,
    failure or cancellation of the gather itself, every started task is cancelled and awaited,
    so nothing is left running. A plan that is cancelled on its own (not by the gather) makes
    the gather raise ``CancelledError``. ``concurrency < 1`` raises ``ValueError`` at build time.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"async_gather: concurrency must be an int >= 1, got {concurrency!r}")
    frozen = tuple(plans)

    async def _gather() -> Result[list[A], ErrInfo]:
        n = len(frozen)
        values: list[A | None] = [None] * n
        first_err: int = n
        first_err_info: ErrInfo | None = None
        next_index = 0
        index_of: dict[asyncio.Task[Result[A, ErrInfo]], int] = {}
        try:
            while True:
                while len(index_of) < concurrency and next_index < first_err:
                    task = asyncio.ensure_future(run_guarded(frozen[next_index], next_index))
                    index_of[task] = next_index
                    next_index += 1
                if not index_of:
                    break
                done, _ = await asyncio.wait(index_of, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    i = index_of.pop(task)
                    if task.cancelled():
                        if i < first_err:  # not cancelled by us: the plan itself was cancelled
                            raise asyncio.CancelledError
                        continue
                    res = task.result()
                    if isinstance(res, Ok):
                        values[i] = res.value
                    elif i < first_err:
                        first_err, first_err_info = i, res.error
                        for other, j in list(index_of.items()):
                            if j > i:
                                other.cancel()
        finally:
            await _cancel_and_wait(list(index_of))
        if first_err_info is not None:
            return Err(first_err_info)
        return Ok(cast(list[A], values))

    return _gather
