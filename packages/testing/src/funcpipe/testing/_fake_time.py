"""FakeClock: one fake that serves every time port at once."""

from __future__ import annotations

import asyncio
import random

from funcpipe.policies import ResilienceEnv, Sleep, TimeoutCtx

from ._virtual import VirtualTimeLoop


class FakeClock:
    """A manual clock serving ``Clock.now_s``, ``Sleeper.now_ms``/``sleep_ms`` and ``Sleep``.

    ``await clock.sleep(s)`` advances the clock by ``s`` at once (then yields to the loop), and
    records the request in ``sleeps``; ``advance(s)`` moves time by hand. Time never goes
    backwards. Use it where a single task sleeps; for several concurrent sleepers use
    ``run_virtual``, whose loop clock is virtual.
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self._now: float = float(start_s)
        self.sleeps: list[float] = []

    def now_s(self) -> float:
        return self._now

    def now_ms(self) -> int:
        return round(self._now * 1000)

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (negative values are refused)."""
        if seconds < 0:
            raise ValueError(f"FakeClock cannot go backwards ({seconds})")
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        """The advancing ``Sleep``: record, advance, yield once."""
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)

    async def sleep_ms(self, ms: int) -> None:
        await self.sleep(ms / 1000.0)


def _virtual_loop() -> asyncio.AbstractEventLoop | None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return loop if isinstance(loop, VirtualTimeLoop) else None


class LoopClock(FakeClock):
    """One clock for everything: under ``run_virtual`` it *is* the virtual loop's clock
    (``now_s()`` is ``loop.time()``, ``sleep`` waits on virtual time, so concurrent sleepers
    overlap as they would in real time); elsewhere it behaves as a ``FakeClock``. Every
    ``sleep`` request is recorded in ``sleeps``."""

    def now_s(self) -> float:
        loop = _virtual_loop()
        return loop.time() if loop is not None else super().now_s()

    def now_ms(self) -> int:
        return round(self.now_s() * 1000)

    async def sleep(self, seconds: float) -> None:
        """Virtual loop: record and ``asyncio.sleep(seconds)``; else ``FakeClock.sleep``."""
        if _virtual_loop() is None:
            await super().sleep(seconds)
            return
        self.sleeps.append(seconds)
        await asyncio.sleep(max(0.0, seconds))


class FakeSleeper(FakeClock):
    """A ``FakeClock`` under the ``Sleeper`` name the seeds use."""


class FakeTimeout:
    """A ``TimeoutCtx`` whose expiry is decided by data, not by time.

    ``expire`` says, per call number (0-based), whether that attempt times out: the body is not
    run and ``TimeoutError`` is raised, as a real timeout would after ``seconds``. ``calls``
    records the seconds asked for.
    """

    def __init__(self, expire: list[bool] | None = None) -> None:
        self._expire = list(expire or [])
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> _TimeoutCM:
        n = len(self.calls)
        self.calls.append(seconds)
        return _TimeoutCM(n < len(self._expire) and self._expire[n])


class _TimeoutCM:
    def __init__(self, expired: bool) -> None:
        self._expired = expired

    async def __aenter__(self) -> None:
        if self._expired:
            raise TimeoutError("fake timeout expired")

    async def __aexit__(self, *exc: object) -> None:
        return None


def make_fake_timeout_ctx(expire: list[bool] | None = None) -> TimeoutCtx:
    """A ``TimeoutCtx`` that times out exactly the calls ``expire`` marks True."""
    return FakeTimeout(expire)


def make_test_resilience_env(
    *, seed: int = 42, sleep: Sleep | None = None, clock: FakeClock | None = None
) -> ResilienceEnv:
    """A deterministic env: ``random.Random(seed)``, one clock for ``clock`` and ``sleep``.

    Default clock: a ``LoopClock``, so under ``run_virtual`` the env's time is the loop's
    (``loop.time()`` and ``env.clock.now_s()`` agree, however many tasks sleep at once). A
    given ``clock`` (e.g. a ``FakeClock``, for a single sleeper) is used as is.
    """
    fake = clock if clock is not None else LoopClock()
    return ResilienceEnv(rng=random.Random(seed), sleep=sleep or fake.sleep, clock=fake)
