"""Small flow helpers the ingest stream needs: batching by count and ordered bounded map.

Both keep order, pass ``Err`` items through in place, start no task at build time, and close
their upstream (and cancel and await their own tasks) on early exit.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from funcpipe.async_plan import AsyncPlan
from funcpipe.policies import RateLimitPolicy, ResilienceEnv, TokenBucket, token_bucket_step
from funcpipe.result import Err, ErrInfo, Ok, Result
from funcpipe.streams import AsyncGen

T = TypeVar("T")
U = TypeVar("U")


def batched(gen: AsyncGen[T], size: int) -> AsyncGen[list[T]]:
    """Group Ok items into lists of at most ``size``; an ``Err`` flushes the batch, then passes."""
    if size < 1:
        raise ValueError(f"batch size must be >= 1, got {size}")

    async def _batched() -> AsyncIterator[Result[list[T], ErrInfo]]:
        it = gen()
        batch: list[T] = []
        try:
            async for item in it:
                if isinstance(item, Ok):
                    batch.append(item.value)
                    if len(batch) >= size:
                        yield Ok(batch)
                        batch = []
                else:
                    if batch:
                        yield Ok(batch)
                        batch = []
                    yield item
            if batch:
                yield Ok(batch)
        finally:
            aclose = getattr(it, "aclose", None)
            if aclose is not None:
                await aclose()

    return _batched


def bounded_map(
    gen: AsyncGen[T], f: Callable[[T], AsyncPlan[U]], max_concurrent: int
) -> AsyncGen[U]:
    """Run ``f(v)`` for Ok items with at most ``max_concurrent`` in flight; yield in input order.

    The window holds at most ``max_concurrent`` pending items, so memory stays bounded behind
    a straggler. An exception from ``f`` or its plan becomes that item's ``Err(UNEXPECTED)``.
    """
    if max_concurrent < 1:
        raise ValueError(f"max_concurrent must be >= 1, got {max_concurrent}")

    async def _run(v: T) -> Result[U, ErrInfo]:
        try:
            return await f(v)()
        except Exception as exc:
            return Err(ErrInfo.from_exception(exc, stage="bounded_map"))

    async def _bounded() -> AsyncIterator[Result[U, ErrInfo]]:
        it = gen()
        window: deque[asyncio.Task[Result[U, ErrInfo]] | Err[ErrInfo]] = deque()
        try:
            async for item in it:
                if isinstance(item, Ok):
                    window.append(asyncio.ensure_future(_run(item.value)))
                else:
                    window.append(item)
                while len(window) > max_concurrent:
                    head = window.popleft()
                    yield head if isinstance(head, Err) else await head
            while window:
                head = window.popleft()
                yield head if isinstance(head, Err) else await head
        finally:
            pending = [t for t in window if isinstance(t, asyncio.Task)]
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            aclose = getattr(it, "aclose", None)
            if aclose is not None:
                await aclose()

    return _bounded


def rate_limited(
    step: Callable[[], AsyncPlan[U]], policy: RateLimitPolicy | None, env: ResilienceEnv
) -> Callable[[], AsyncPlan[U]]:
    """Make each plan made by ``step`` first take one token from a shared token bucket.

    The bucket lives in the returned closure (one per run); the clock and sleep come from
    ``env``, so tests run it in virtual time. ``None`` means no limit.
    """
    if policy is None:
        return step
    state: list[TokenBucket] = []

    def _make() -> AsyncPlan[U]:
        inner = step()

        async def _limited() -> Result[U, ErrInfo]:
            while True:
                now = env.clock.now_s()
                bucket = state[0] if state else TokenBucket.full(policy, now)
                bucket, wait = token_bucket_step(bucket, policy, now)
                state[:] = [bucket]
                if wait <= 0:
                    break
                await env.sleep(wait)
            return await inner()

        return _limited

    return _make
