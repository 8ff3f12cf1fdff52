"""Time ports: the only way FuncPipe code reads clocks, sleeps, or bounds time.

Interpreters receive them; ``funcpipe.testing.FakeClock`` drives all of them at once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol, TypeAlias, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """A monotonic clock in seconds."""

    def now_s(self) -> float:
        """Seconds on a monotonic time base (only differences are meaningful)."""
        ...


Sleep: TypeAlias = Callable[[float], Awaitable[None]]
"""Sleep for a number of seconds (``asyncio.sleep`` is one)."""

TimeoutCtx: TypeAlias = Callable[[float], AbstractAsyncContextManager[object]]
"""Given seconds, an async context manager that raises ``TimeoutError`` on expiry
(``asyncio.timeout`` is one)."""


@runtime_checkable
class Sleeper(Protocol):
    """Millisecond clock plus sleep, used by age-based batching."""

    def now_ms(self) -> int:
        """Milliseconds on a monotonic time base."""
        ...

    async def sleep_ms(self, ms: int) -> None:
        """Wait ``ms`` milliseconds."""
        ...


def _loop_time() -> float:
    """The running event loop's clock (``time.monotonic`` outside a loop).

    Reading the loop's clock keeps timers and clock readings on one time base, also under a
    virtual-time loop in tests.
    """
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


class SystemClock:
    """The event loop's monotonic clock as a ``Clock``."""

    def now_s(self) -> float:
        """The running loop's ``time()`` (``time.monotonic()`` outside a loop)."""
        return _loop_time()


class RealSleeper:
    """The event loop's clock and ``asyncio.sleep`` as a ``Sleeper``."""

    def now_ms(self) -> int:
        """The running loop's clock in whole milliseconds."""
        return int(_loop_time() * 1000)

    async def sleep_ms(self, ms: int) -> None:
        """``asyncio.sleep(ms / 1000)``."""
        await asyncio.sleep(ms / 1000.0)


@dataclass(frozen=True, slots=True)
class ResilienceEnv:
    """Everything a retry/timeout interpreter needs from the world: randomness, sleep, clock."""

    rng: random.Random
    sleep: Sleep
    clock: Clock

    @staticmethod
    def default() -> ResilienceEnv:
        """A fresh ``random.Random``, ``asyncio.sleep`` and the system monotonic clock."""
        return ResilienceEnv(rng=random.Random(), sleep=asyncio.sleep, clock=SystemClock())


def default_timeout_ctx(seconds: float) -> AbstractAsyncContextManager[object]:
    """``asyncio.timeout(seconds)``."""
    return asyncio.timeout(seconds)
