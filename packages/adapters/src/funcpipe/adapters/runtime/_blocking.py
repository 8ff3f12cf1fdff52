"""Running blocking work off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TypeVar

from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

R = TypeVar("R")


async def run_blocking(fn: Callable[[], R], *, executor: Executor | None = None) -> R:
    """Await ``fn()`` run in ``executor`` (the loop's default pool if None); pass arguments
    with ``functools.partial`` or a lambda.

    Exceptions of ``fn`` propagate. Cancellation: the awaiter is cancelled at once; a call
    already running in its thread finishes there and its result is discarded.
    """
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, fn)


def blocking_plan(
    fn: Callable[[], R],
    *,
    executor: Executor | None = None,
    code: str = codes.UNEXPECTED,
) -> AsyncPlan[R]:
    """A plan that runs ``fn()`` off the loop; an ``Exception`` becomes ``Err(code)``."""

    async def _run() -> Result[R, ErrInfo]:
        try:
            return Ok(await run_blocking(fn, executor=executor))
        except Exception as exc:
            return Err(ErrInfo.from_exception(exc, code=code))

    return _run


def dedicated_executor(name: str) -> ThreadPoolExecutor:
    """One worker thread named ``name``: calls run one at a time, in submission order.

    The owner must call ``shutdown()`` (the stores do it in ``close()``).
    """
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
