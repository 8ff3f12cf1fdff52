"""FakeClock serves every time port; FakeTimeout and the test resilience env."""

from __future__ import annotations

import asyncio

import pytest
from funcpipe.async_plan import AsyncPlan, async_with_resilience
from funcpipe.policies import Clock, RetryPolicy, Sleeper, TimeoutPolicy
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.testing import (
    FakeClock,
    FakeSleeper,
    LoopClock,
    make_fake_timeout_ctx,
    make_test_resilience_env,
    run_virtual,
)
from hypothesis import given, settings
from hypothesis import strategies as st


def test_one_fake_serves_every_port() -> None:
    clock = FakeClock(start_s=2.0)
    assert isinstance(clock, Clock)
    assert isinstance(clock, Sleeper)
    assert isinstance(FakeSleeper(), Sleeper)
    assert clock.now_s() == 2.0
    assert clock.now_ms() == 2000


def test_sleeping_advances_and_records() -> None:
    clock = FakeClock()

    async def main() -> None:
        await clock.sleep(1.5)
        await clock.sleep_ms(250)
        await clock.sleep(-1)  # a negative request does not move time back

    run_virtual(main)
    assert clock.sleeps == [1.5, 0.25, -1]
    assert clock.now_s() == pytest.approx(1.75)
    assert clock.now_ms() == 1750


def test_time_never_goes_backwards() -> None:
    clock = FakeClock()
    clock.advance(3)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-0.1)
    assert clock.now_s() == 3


@settings(max_examples=50)
@given(steps=st.lists(st.floats(0, 1e6, allow_nan=False), max_size=20))
def test_clock_is_monotonic(steps: list[float]) -> None:
    clock = FakeClock()
    seen = [clock.now_s()]
    for s in steps:
        clock.advance(s)
        seen.append(clock.now_s())
    assert seen == sorted(seen)
    assert clock.now_s() == pytest.approx(sum(steps))


def test_fake_timeout_expires_the_marked_calls() -> None:
    ctx = make_fake_timeout_ctx([False, True])
    ran: list[int] = []

    async def body(i: int) -> str:
        try:
            async with ctx(0.5):
                ran.append(i)
                return "done"
        except TimeoutError:
            return "timeout"

    async def main() -> list[str]:
        return [await body(i) for i in range(3)]

    assert run_virtual(main) == ["done", "timeout", "done"]
    assert ran == [0, 2]


def test_resilience_env_sleeps_on_the_fake_clock() -> None:
    clock = FakeClock()
    env = make_test_resilience_env(seed=1, clock=clock)
    calls: list[int] = []

    async def flaky() -> Result[str, ErrInfo]:
        calls.append(1)
        if len(calls) < 3:
            return Err(ErrInfo(codes.TRANSIENT, "again"))
        return Ok("ok")

    policy = RetryPolicy(max_attempts=3, backoff_base_ms=100, jitter_factor=0.0)
    assert run_virtual(async_with_resilience(flaky, policy, env=env)) == Ok("ok")
    assert clock.sleeps == [0.1, 0.2]
    assert clock.now_s() == pytest.approx(0.3)


def test_resilience_env_is_seeded() -> None:
    a = make_test_resilience_env(seed=7)
    b = make_test_resilience_env(seed=7)
    assert [a.rng.random() for _ in range(3)] == [b.rng.random() for _ in range(3)]


def test_fake_timeout_ctx_drives_timeouts_of_resilience() -> None:
    env = make_test_resilience_env()

    async def slow() -> Result[str, ErrInfo]:
        await asyncio.sleep(0)
        return Ok("late")

    plan = async_with_resilience(
        slow,
        RetryPolicy(max_attempts=2, jitter_factor=0.0),
        TimeoutPolicy(100),
        env,
        timeout_ctx=make_fake_timeout_ctx([True, True]),
    )
    res = run_virtual(plan)
    assert isinstance(res, Err)
    assert res.error.code == codes.MAX_RETRIES


@given(st.integers(1, 6), st.integers(0, 3), st.integers(0, 2**16))
def test_one_clock_under_run_virtual_with_concurrent_retries(n: int, fails: int, seed: int) -> None:
    """Law: under ``run_virtual`` the default env's clock is the loop's: after ``n`` concurrent
    retrying tasks with backoff, ``loop.time() == env.clock.now_s()`` (it used to stay 0.0
    on the loop while the env's FakeClock summed every task's sleeps)."""
    env = make_test_resilience_env(seed=seed)
    policy = RetryPolicy(max_attempts=fails + 1, backoff_base_ms=100)

    def flaky() -> AsyncPlan[str]:
        calls = 0

        async def _run() -> Result[str, ErrInfo]:
            nonlocal calls
            calls += 1
            return Err(ErrInfo(codes.TRANSIENT, "again")) if calls <= fails else Ok("ok")

        return _run

    async def main() -> tuple[float, float, float]:
        loop = asyncio.get_running_loop()
        plans = [async_with_resilience(flaky(), policy, env=env) for _ in range(n)]
        outs = await asyncio.gather(*(p() for p in plans))
        assert outs == [Ok("ok")] * n
        return loop.time(), env.clock.now_s(), max([0.0, *env_sleeps()])

    def env_sleeps() -> list[float]:
        clock = env.clock
        assert isinstance(clock, LoopClock)
        return clock.sleeps

    loop_now, env_now, longest = run_virtual(main)
    assert loop_now == env_now
    assert len(env_sleeps()) == n * fails
    assert loop_now >= longest  # the sleeps overlapped on one clock


def test_loop_clock_outside_run_virtual_is_a_fake_clock() -> None:
    clock = LoopClock(start_s=5.0)
    assert clock.now_s() == 5.0
    asyncio.run(clock.sleep(0.5))
    assert (clock.now_s(), clock.sleeps) == (5.5, [0.5])
