"""run_virtual: an asyncio event loop with a virtual clock and seeded interleavings."""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import os
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

DEFAULT_MAX_STEPS = 5_000_000
"""Loop iterations after which ``run_virtual`` gives up with ``StepLimitError``."""

_THREAD_SLICE_S = 0.05  # real-time slice while waiting for executor threads


class DeadlockError(RuntimeError):
    """No task can ever make progress: every task waits on something nothing will deliver.

    ``waiting`` names the stuck tasks with the place each one waits at.
    """

    def __init__(self, message: str, waiting: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.waiting: tuple[str, ...] = waiting


class StepLimitError(DeadlockError):
    """The run went on for more loop iterations than allowed (a livelock or an endless loop)."""


def _where(task: asyncio.Task[Any]) -> str:
    """``name (innermost_function at file:line)`` for a pending task."""
    obj: Any = task.get_coro()
    frame = None
    for _ in range(100):  # follow the await chain to the innermost frame
        if obj is None:
            break
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "ag_frame", None) or frame
        obj = getattr(obj, "cr_await", None) or getattr(obj, "ag_await", None)
    if frame is None:
        return task.get_name()
    code = frame.f_code
    where = f"{os.path.basename(code.co_filename)}:{frame.f_lineno}"
    return f"{task.get_name()} ({code.co_name} at {where})"


@dataclass(slots=True)
class _ThreadCall:
    cfut: concurrent.futures.Future[Any]
    afut: asyncio.Future[Any]
    label: str


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` is virtual and whose interleavings come from a seed.

    - Time: whenever no callback is ready, the clock jumps to the next timer, so
      ``asyncio.sleep(3600)`` and ``asyncio.timeout(...)`` complete at once in real time and
      at the right moment in virtual time. Virtual time starts at 0.0 and never goes back.
    - Interleavings: with a ``seed``, the ready callbacks of every iteration run in an order
      shuffled by ``random.Random(seed)``; ``seed=None`` keeps asyncio's FIFO order. Tasks get
      per-loop names (``task-1``, ``task-2``, ...), so ``trace`` (the task names in the order
      their steps ran) is identical for the same program and seed.
    - Executor threads (``run_in_executor``, ``asyncio.to_thread``) run on real threads, take
      no virtual time, and deliver their results only when the loop is otherwise idle, all
      together, in submission order; so they do not make runs nondeterministic. While a
      thread works, virtual time stands still: a thread that waits for loop work needing
      virtual time to pass (a sleep, a timeout) cannot finish (reported after
      ``real_timeout_s``).
    - Deadlock: nothing ready, no timer, no executor work and no real I/O registered raises
      ``DeadlockError`` naming the waiting tasks. More than ``max_steps`` iterations raise
      ``StepLimitError``. Executor work or real I/O that does not finish within
      ``real_timeout_s`` of real time raises ``DeadlockError``.
    - Real I/O (sockets) is polled without waiting while timers are pending: virtual timers
      win races against the network, so keep real I/O out of virtual-time tests.
    """

    def __init__(
        self,
        seed: int | None = None,
        *,
        max_steps: int | None = DEFAULT_MAX_STEPS,
        real_timeout_s: float = 60.0,
    ) -> None:
        super().__init__()
        self.seed: int | None = seed
        self._virtual_now = 0.0
        self._rng = random.Random(seed) if seed is not None else None
        self._max_steps = max_steps
        self._real_timeout_s = real_timeout_s
        self._task_count = 0
        self._threads: list[_ThreadCall] = []
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self.trace: list[str] = []
        self.reorders: int = 0
        self.steps: int = 0

    # -- clock and tasks ------------------------------------------------------------------

    def time(self) -> float:
        return self._virtual_now

    def create_task(  # type: ignore[override]
        self,
        coro: Coroutine[Any, Any, T],
        *,
        name: str | None = None,
        context: Any = None,
    ) -> asyncio.Task[T]:
        if name is None:
            self._task_count += 1
            name = f"task-{self._task_count}"
        return super().create_task(coro, name=name, context=context)

    # -- executor threads -----------------------------------------------------------------

    def run_in_executor(  # type: ignore[override]
        self, executor: concurrent.futures.Executor | None, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        raw: Any = self
        raw._check_closed()
        if executor is None:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="virtual")
            executor = self._executor
        cfut = executor.submit(func, *args)
        afut: asyncio.Future[T] = self.create_future()

        def _cancel_thread(fut: asyncio.Future[T]) -> None:
            if fut.cancelled():
                cfut.cancel()

        afut.add_done_callback(_cancel_thread)
        label = getattr(func, "__qualname__", None) or repr(func)
        self._threads.append(_ThreadCall(cfut, afut, label))
        return afut

    def _wait_for_threads(self) -> None:
        """Wait (real time) until every submitted call is done, then deliver all in order."""
        raw: Any = self
        ready = raw._ready
        deadline = time.monotonic() + self._real_timeout_s
        while True:
            pending = [c.cfut for c in self._threads if not c.cfut.done()]
            if not pending:
                break
            concurrent.futures.wait(pending, timeout=_THREAD_SLICE_S)
            raw._read_from_self()
            if ready:  # a thread called back into the loop (call_soon_threadsafe): serve it
                return
            if time.monotonic() > deadline:
                labels = [c.label for c in self._threads if not c.cfut.done()]
                raise DeadlockError(
                    f"executor work did not finish within {self._real_timeout_s} s of real "
                    f"time: {labels}"
                )
        calls, self._threads = self._threads, []
        for call in calls:
            if call.afut.done():
                continue
            if call.cfut.cancelled():
                call.afut.cancel()
            elif (exc := call.cfut.exception()) is not None:
                call.afut.set_exception(exc)
            else:
                call.afut.set_result(call.cfut.result())

    def shutdown_threads(self) -> None:
        """Shut the loop's own executor down (not waiting for threads that are stuck)."""
        if self._executor is not None:
            stuck = any(not c.cfut.done() for c in self._threads)
            self._executor.shutdown(wait=not stuck, cancel_futures=True)
            self._executor = None

    # -- the scheduler --------------------------------------------------------------------

    def set_max_steps(self, max_steps: int | None) -> None:
        """Change the iteration limit (``None``: no limit)."""
        self._max_steps = max_steps

    def pending_tasks(self) -> list[asyncio.Task[Any]]:
        """The tasks of this loop that have not finished, sorted by name."""
        return sorted(
            (t for t in asyncio.all_tasks(self) if not t.done()), key=lambda t: t.get_name()
        )

    def _deadlock(self) -> DeadlockError:
        waiting = tuple(_where(t) for t in self.pending_tasks())
        return DeadlockError(
            f"no task can make progress (virtual time {self._virtual_now:g} s); "
            f"waiting: {list(waiting)}",
            waiting,
        )

    def _has_io(self) -> bool:
        raw: Any = self
        return len(raw._selector.get_map()) > 1  # the loop's own self-pipe is always registered

    def _drop_cancelled_timers(self) -> None:
        raw: Any = self  # asyncio's private scheduler state
        scheduled: list[Any] = raw._scheduled
        if len(scheduled) > 100 and raw._timer_cancelled_count * 2 > len(scheduled):
            live = []
            for handle in scheduled:
                if handle.cancelled():
                    handle._scheduled = False
                else:
                    live.append(handle)
            heapq.heapify(live)
            raw._scheduled = live
            raw._timer_cancelled_count = 0
        else:
            while scheduled and scheduled[0].cancelled():
                raw._timer_cancelled_count -= 1
                handle = heapq.heappop(scheduled)
                handle._scheduled = False

    def _when_idle(self) -> None:
        """Nothing is ready: deliver thread results, or jump time, or wait for I/O, or fail."""
        raw: Any = self
        if self._threads:
            self._wait_for_threads()
        elif raw._scheduled:
            self._virtual_now = max(self._virtual_now, raw._scheduled[0].when())
        elif self._has_io():
            events = raw._selector.select(self._real_timeout_s)
            if not events:
                raise self._deadlock()
            raw._process_events(events)
        else:
            raise self._deadlock()

    def _run_once(self) -> None:
        raw: Any = self  # asyncio's private scheduler state
        self.steps += 1
        if self._max_steps is not None and self.steps > self._max_steps:
            waiting = tuple(_where(t) for t in self.pending_tasks())
            raise StepLimitError(
                f"gave up after {self._max_steps} loop iterations (virtual time "
                f"{self._virtual_now:g} s): an endless loop or livelock? tasks: {list(waiting)}",
                waiting,
            )
        self._drop_cancelled_timers()
        ready = raw._ready
        if not ready and not raw._stopping:
            self._when_idle()
        elif self._has_io():
            raw._process_events(raw._selector.select(0))
        scheduled = raw._scheduled
        end = self._virtual_now + raw._clock_resolution
        while scheduled and scheduled[0].when() < end:
            timer = heapq.heappop(scheduled)
            timer._scheduled = False
            ready.append(timer)
        if self._rng is not None and len(ready) > 1:
            before = list(ready)
            items = before.copy()
            self._rng.shuffle(items)
            if items != before:
                self.reorders += 1
            ready.clear()
            ready.extend(items)
        for _ in range(len(ready)):
            handle = ready.popleft()
            if handle._cancelled:
                continue
            owner = getattr(handle._callback, "__self__", None)
            if isinstance(owner, asyncio.Task):
                self.trace.append(owner.get_name())
            handle._run()
        handle = None  # break reference cycles, as asyncio does


@dataclass(frozen=True, slots=True)
class VirtualRun(Generic[T]):
    """What one ``run_virtual_traced`` run returned and how it was scheduled.

    ``trace``: task names in the order their steps ran (``main`` is the entry task).
    ``reorders``: iterations whose ready callbacks ran in a shuffled (non-FIFO) order.
    ``steps``: loop iterations. ``virtual_time_s``: the virtual clock when ``main`` ended.
    """

    result: T
    seed: int | None
    trace: tuple[str, ...]
    reorders: int
    steps: int
    virtual_time_s: float


async def _entry(main: Callable[[], Awaitable[T]]) -> T:
    return await main()  # main() is called on the loop, so it may use the running loop


def _cleanup(loop: VirtualTimeLoop) -> None:
    """Cancel what is left, close async generators and threads, close the loop."""
    loop.set_max_steps(loop.steps + 100_000)  # a fresh budget for the clean-up itself
    try:
        pending = loop.pending_tasks()
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    except DeadlockError:
        pass  # a task refused to die; nothing more can be done for it
    finally:
        loop.shutdown_threads()
        asyncio.set_event_loop(None)
        loop.close()


def run_virtual_traced(
    main: Callable[[], Awaitable[T]],
    *,
    seed: int | None = None,
    max_steps: int | None = DEFAULT_MAX_STEPS,
) -> VirtualRun[T]:
    """Run ``main()`` on a fresh ``VirtualTimeLoop`` and return its result with the trace.

    The same program and ``seed`` give the identical ``trace``; different seeds give different
    orders of ready tasks; ``seed=None`` keeps FIFO order. Raises ``DeadlockError`` (naming the
    waiting tasks) instead of hanging, ``StepLimitError`` after ``max_steps`` iterations, and
    whatever ``main`` raises. Left-over tasks are cancelled and awaited, async generators
    closed and the loop closed before returning. Must be called from synchronous code.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "run_virtual: called while an event loop is running; call it from a plain "
            "(non-async) test function"
        )
    loop = VirtualTimeLoop(seed, max_steps=max_steps)
    asyncio.set_event_loop(loop)
    try:
        task = loop.create_task(_entry(main), name="main")
        result = loop.run_until_complete(task)
        return VirtualRun(
            result=result,
            seed=seed,
            trace=tuple(loop.trace),
            reorders=loop.reorders,
            steps=loop.steps,
            virtual_time_s=loop.time(),
        )
    finally:
        _cleanup(loop)


def run_virtual(
    main: Callable[[], Awaitable[T]],
    *,
    seed: int | None = None,
    max_steps: int | None = DEFAULT_MAX_STEPS,
) -> T:
    """Run ``main()`` to completion on a virtual-time loop and return its result.

    ``main`` is a zero-argument coroutine function (or any callable returning an awaitable).
    Sleeps and timeouts complete at once in real time and correctly in virtual time; ``seed``
    varies the order of ready tasks deterministically; see ``run_virtual_traced``. Raises
    ``DeadlockError`` instead of hanging.
    """
    return run_virtual_traced(main, seed=seed, max_steps=max_steps).result


class VirtualRunner:
    """The ``virtual`` pytest fixture: ``virtual(main, seed=...)`` runs ``main`` virtually.

    ``virtual.traced(main, seed=...)`` returns the ``VirtualRun``; ``runs`` keeps every run of
    the test, so a failing test can show the seeds and traces it used.
    """

    def __init__(self, *, seed: int | None = None) -> None:
        self.seed: int | None = seed
        self.runs: list[VirtualRun[object]] = []

    def traced(self, main: Callable[[], Awaitable[T]], *, seed: int | None = None) -> VirtualRun[T]:
        run = run_virtual_traced(main, seed=self.seed if seed is None else seed)
        self.runs.append(run)  # type: ignore[arg-type]
        return run

    def __call__(self, main: Callable[[], Awaitable[T]], *, seed: int | None = None) -> T:
        return self.traced(main, seed=seed).result
