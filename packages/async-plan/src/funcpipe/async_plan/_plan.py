"""AsyncPlan and its monadic building blocks.

Laws: left identity ``async_bind(async_pure(x), f) ~ f(x)``; right identity
``async_bind(m, async_pure) ~ m``; associativity. Building a plan performs no effect and
starts no task; each call of a plan makes a fresh coroutine (replayability).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeAlias, TypeVar

from funcpipe.result import Err, ErrInfo, Ok, Result

A = TypeVar("A")
B = TypeVar("B")

AsyncPlan: TypeAlias = Callable[[], Awaitable[Result[A, ErrInfo]]]
"""A replayable description of async work that yields ``Result[A, ErrInfo]``."""

AsyncAction: TypeAlias = AsyncPlan[A]
"""Alias of ``AsyncPlan`` used by the seeds for effectful single steps."""


def async_pure(value: A) -> AsyncPlan[A]:
    """A plan that yields ``Ok(value)``."""

    async def _pure() -> Result[A, ErrInfo]:
        return Ok(value)

    return _pure


def async_from_result(result: Result[A, ErrInfo]) -> AsyncPlan[A]:
    """A plan that yields ``result`` as it is."""

    async def _const() -> Result[A, ErrInfo]:
        return result

    return _const


def async_bind(plan: AsyncPlan[A], f: Callable[[A], AsyncPlan[B]]) -> AsyncPlan[B]:
    """Run ``plan``; on ``Ok(v)`` run ``f(v)``; an ``Err`` short-circuits (``f`` not called)."""

    async def _bound() -> Result[B, ErrInfo]:
        res = await plan()
        if isinstance(res, Ok):
            return await f(res.value)()
        return res

    return _bound


def async_map(plan: AsyncPlan[A], f: Callable[[A], B]) -> AsyncPlan[B]:
    """Apply the pure ``f`` to the plan's value; an ``Err`` passes through."""

    async def _mapped() -> Result[B, ErrInfo]:
        res = await plan()
        if isinstance(res, Ok):
            return Ok(f(res.value))
        return res

    return _mapped


def async_map_err(plan: AsyncPlan[A], f: Callable[[ErrInfo], ErrInfo]) -> AsyncPlan[A]:
    """Apply ``f`` to the plan's error; an ``Ok`` passes through."""

    async def _mapped() -> Result[A, ErrInfo]:
        res = await plan()
        if isinstance(res, Err):
            return Err(f(res.error))
        return res

    return _mapped


def async_lift(make_coro: Callable[[], Awaitable[Result[A, ErrInfo]]]) -> AsyncPlan[A]:
    """Lift a thunk that makes a fresh awaitable per call, e.g. ``lambda: cap.get(url)``.

    Precondition: ``make_coro`` must create a new coroutine on every call; passing a lambda
    that returns one shared coroutine breaks replayability.
    """
    return make_coro
