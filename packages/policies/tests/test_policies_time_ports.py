"""Time ports: protocols, the system implementations on the loop's clock, ResilienceEnv."""

from __future__ import annotations

import asyncio
import random

import pytest
from funcpipe.policies import (
    Clock,
    RealSleeper,
    ResilienceEnv,
    Sleeper,
    SystemClock,
    default_timeout_ctx,
)


def test_system_implementations_satisfy_the_protocols() -> None:
    assert isinstance(SystemClock(), Clock)
    assert isinstance(RealSleeper(), Sleeper)
    assert not isinstance(object(), Clock)


def test_default_env() -> None:
    env = ResilienceEnv.default()
    assert isinstance(env.rng, random.Random)
    assert env.sleep is asyncio.sleep
    assert isinstance(env.clock, SystemClock)
    assert ResilienceEnv.default().rng is not env.rng  # nothing global is shared


def test_system_clock_reads_the_running_loop() -> None:
    async def main() -> tuple[float, float, int]:
        loop = asyncio.get_running_loop()
        return loop.time(), SystemClock().now_s(), RealSleeper().now_ms()

    loop_now, clock_now, ms = asyncio.run(main())
    assert loop_now <= clock_now < loop_now + 60
    assert int(loop_now * 1000) <= ms


def test_system_clock_outside_a_loop_is_monotonic() -> None:
    clock = SystemClock()
    readings = [clock.now_s() for _ in range(50)]
    assert readings == sorted(readings)


def test_real_sleeper_zero_and_default_timeout() -> None:
    async def expired() -> None:
        async with default_timeout_ctx(0):
            await asyncio.sleep(0)
            await asyncio.sleep(0)

    async def main() -> None:
        await RealSleeper().sleep_ms(0)
        with pytest.raises(TimeoutError):
            await expired()

    asyncio.run(main())
