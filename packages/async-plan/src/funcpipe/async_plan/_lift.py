"""Lifting synchronous functions into plans."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from typing import ParamSpec, TypeVar

from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from ._plan import AsyncPlan

P = ParamSpec("P")
R = TypeVar("R")


def lift_sync(f: Callable[P, R]) -> Callable[P, AsyncPlan[R]]:
    """``lift_sync(f)(*args)`` is a plan that calls ``f(*args)`` when run.

    The result is ``Ok(value)``; an ``Exception`` becomes ``Err(UNEXPECTED)``. ``f`` runs on the
    event loop, so it must be quick; use ``lift_sync_with_executor`` for blocking work.
    """

    def _bind(*args: P.args, **kwargs: P.kwargs) -> AsyncPlan[R]:
        async def _run() -> Result[R, ErrInfo]:
            try:
                return Ok(f(*args, **kwargs))
            except Exception as exc:
                return Err(ErrInfo.from_exception(exc, code=codes.UNEXPECTED))

        return _run

    return _bind


def lift_sync_with_executor(f: Callable[P, R], executor: Executor) -> Callable[P, AsyncPlan[R]]:
    """Like ``lift_sync`` but ``f`` runs in ``executor``, off the event loop.

    Cancellation: the awaiting plan is cancelled at once; a call already running in a thread
    finishes there and its result is discarded.
    """

    def _bind(*args: P.args, **kwargs: P.kwargs) -> AsyncPlan[R]:
        async def _run() -> Result[R, ErrInfo]:
            loop = asyncio.get_running_loop()
            try:
                value = await loop.run_in_executor(executor, functools.partial(f, *args, **kwargs))
            except Exception as exc:
                return Err(ErrInfo.from_exception(exc, code=codes.UNEXPECTED))
            return Ok(value)

        return _run

    return _bind
