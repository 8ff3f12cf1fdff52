"""AsyncPlan overheads: resilience success path vs a bare await; async_bind chain vs coroutines."""

from __future__ import annotations

import asyncio
import time

from _harness import Row, best_of
from funcpipe.async_plan import AsyncPlan, async_bind, async_pure, async_with_resilience
from funcpipe.policies import ResilienceEnv, RetryPolicy, TimeoutPolicy
from funcpipe.result import ErrInfo, Ok, Result

N = 50_000


async def _step() -> Result[int, ErrInfo]:
    return Ok(1)


async def _bare_loop() -> float:
    t0 = time.perf_counter()
    for _ in range(N):
        await _step()
    return (time.perf_counter() - t0) / N * 1e6


async def _resilient_loop(plan: AsyncPlan[int]) -> float:
    t0 = time.perf_counter()
    for _ in range(N):
        await plan()
    return (time.perf_counter() - t0) / N * 1e6


def _bind_chain(depth: int) -> AsyncPlan[int]:
    plan: AsyncPlan[int] = async_pure(0)
    for _ in range(depth):
        plan = async_bind(plan, lambda x: async_pure(x + 1))
    return plan


async def _hand_chain(depth: int) -> int:
    async def inc(x: int) -> int:
        return x + 1

    x = 0
    for _ in range(depth):
        x = await inc(x)
    return x


async def _hand_result_chain(depth: int) -> Result[int, ErrInfo]:
    """The same chain written by hand with the same semantics: Results, stop at an Err."""

    async def inc(x: int) -> Result[int, ErrInfo]:
        return Ok(x + 1)

    res: Result[int, ErrInfo] = Ok(0)
    for _ in range(depth):
        if not isinstance(res, Ok):
            return res
        res = await inc(res.value)
    return res


async def _time_chain_hand_result(depth: int, reps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(reps):
        await _hand_result_chain(depth)
    return (time.perf_counter() - t0) / reps * 1e6


async def _time_chain_plan(depth: int, reps: int) -> float:
    plan = _bind_chain(depth)
    t0 = time.perf_counter()
    for _ in range(reps):
        await plan()
    return (time.perf_counter() - t0) / reps * 1e6


async def _time_chain_hand(depth: int, reps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(reps):
        await _hand_chain(depth)
    return (time.perf_counter() - t0) / reps * 1e6


def run() -> list[Row]:
    env = ResilienceEnv.default()
    retry = RetryPolicy(max_attempts=3)
    resilient = async_with_resilience(_step, retry, None, env)
    default_env = async_with_resilience(_step, retry)
    with_timeout = async_with_resilience(_step, retry, TimeoutPolicy(1000), env)
    bare = best_of(5, lambda: asyncio.run(_bare_loop()))
    res = best_of(5, lambda: asyncio.run(_resilient_loop(resilient)))
    res_d = best_of(5, lambda: asyncio.run(_resilient_loop(default_env)))
    res_t = best_of(5, lambda: asyncio.run(_resilient_loop(with_timeout)))
    depth, reps = 10, 5_000
    chain = best_of(5, lambda: asyncio.run(_time_chain_plan(depth, reps)))
    hand = best_of(5, lambda: asyncio.run(_time_chain_hand(depth, reps)))
    hand_r = best_of(5, lambda: asyncio.run(_time_chain_hand_result(depth, reps)))
    return [
        Row(
            "async_with_resilience success path (retry x3), us/call",
            res,
            "bare await of the step",
            bare,
            "us/call",
            "<= 3 us overhead per call",
            f"overhead {res - bare:.2f} us/call",
        ),
        Row(
            "async_with_resilience success path (retry x3, no env), us/call",
            res_d,
            "bare await of the step",
            bare,
            "us/call",
            "<= 3 us overhead per call",
            f"overhead {res_d - bare:.2f} us/call (the default env is made only on a retry)",
        ),
        Row(
            "async_with_resilience success path (retry + timeout), us/call",
            res_t,
            "bare await of the step",
            bare,
            "us/call",
            "(informational: asyncio.timeout costs a timer per call)",
            f"overhead {res_t - bare:.2f} us/call",
        ),
        Row(
            f"async_bind chain of {depth} steps, us/run",
            chain,
            f"{depth} hand-written awaited coroutines",
            hand,
            "us/run",
            "informational (closure + Result per step)",
        ),
        Row(
            f"async_bind chain of {depth} steps, us/run",
            chain,
            f"{depth} hand-written coroutines returning Results",
            hand_r,
            "us/run",
            "informational (the same semantics written by hand)",
        ),
    ]
