"""run_virtual: an asyncio event loop with a virtual clock and seeded interleavings."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class DeadlockError(RuntimeError):
    """Raised by ``run_virtual`` when no task can ever make progress; names the waiting tasks."""


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` is virtual.

    Whenever nothing is ready to run, the clock jumps to the next timer, so
    ``asyncio.sleep(3600)`` completes at once in real time and after 3600 s in virtual time.
    With a ``seed``, the order of ready callbacks is shuffled deterministically on every
    iteration (same seed, same order). ``trace`` records the task names in the order they ran.
    """

    def __init__(self, seed: int | None = None) -> None:
        super().__init__()
        self._virtual_now = 0.0
        self._rng = random.Random(seed) if seed is not None else None
        self.trace: list[str] = []
        self.reorders = 0
        self._pending_threads = 0

    def time(self) -> float:
        return self._virtual_now

    def run_in_executor(  # type: ignore[override]
        self, executor: Any, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        self._pending_threads += 1
        fut = super().run_in_executor(executor, func, *args)
        fut.add_done_callback(self._thread_done)
        return fut

    def _thread_done(self, _: object) -> None:
        self._pending_threads -= 1

    def _live_timers(self) -> list[asyncio.TimerHandle]:
        scheduled: list[asyncio.TimerHandle] = self._scheduled  # type: ignore[attr-defined]
        return [h for h in scheduled if not h.cancelled()]

    def _has_io(self) -> bool:
        selector: Any = self._selector  # type: ignore[attr-defined]
        return len(selector.get_map()) > 1  # the loop's own self-pipe is always registered

    def _run_once(self) -> None:
        ready: Any = self._ready  # type: ignore[attr-defined]
        if not ready and self._pending_threads == 0:
            timers = self._live_timers()
            if timers:
                when = min(h.when() for h in timers)
                self._virtual_now = max(self._virtual_now, when)
            elif not self._has_io() and not self._stopping:  # type: ignore[attr-defined]
                waiting = sorted(t.get_name() for t in asyncio.all_tasks(self) if not t.done())
                raise DeadlockError(f"no task can make progress; waiting: {waiting}")
        if self._rng is not None and len(ready) > 1:
            items = list(ready)
            self._rng.shuffle(items)
            if items != list(ready):
                self.reorders += 1
            ready.clear()
            ready.extend(items)
        for handle in ready:
            owner = getattr(getattr(handle, "_callback", None), "__self__", None)
            if isinstance(owner, asyncio.Task):
                self.trace.append(owner.get_name())
        super()._run_once()  # type: ignore[misc]


def run_virtual(main: Callable[[], Coroutine[Any, Any, T]], *, seed: int | None = None) -> T:
    """Run ``main()`` to completion on a ``VirtualTimeLoop`` and return its result.

    Raises ``DeadlockError`` (naming the waiting tasks) when every task waits on something
    that no timer, thread or I/O can deliver; the stuck tasks are cancelled first.
    """
    loop = VirtualTimeLoop(seed)
    asyncio.set_event_loop(loop)
    try:
        task = loop.create_task(main(), name="main")
        try:
            return loop.run_until_complete(task)
        except DeadlockError:
            for t in asyncio.all_tasks(loop):
                t.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            raise
    finally:
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
