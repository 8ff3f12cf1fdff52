"""run_virtual: virtual time, seeded interleavings, deadlock detection, executor threads."""

from __future__ import annotations

import asyncio
import threading
import time
import warnings
from collections.abc import AsyncIterator

import pytest
from funcpipe.testing import (
    DeadlockError,
    StepLimitError,
    VirtualRunner,
    VirtualTimeLoop,
    interleaving_seeds,
    run_virtual,
    run_virtual_traced,
)
from hypothesis import given, settings
from hypothesis import strategies as st


async def _workers(n: int = 4, steps: int = 3) -> list[str]:
    """n tasks that each yield ``steps`` times, recording who ran when."""
    order: list[str] = []

    async def worker(i: int) -> None:
        for s in range(steps):
            order.append(f"w{i}.{s}")
            await asyncio.sleep(0)

    await asyncio.gather(*(worker(i) for i in range(n)))
    return order


# -- virtual time -------------------------------------------------------------------------


def test_long_sleeps_complete_in_virtual_time() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(3600)
        return start, loop.time()

    assert run_virtual(main) == (0.0, 3600.0)


def test_sleepers_wake_in_deadline_order() -> None:
    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        woke: list[tuple[str, float]] = []

        async def sleeper(name: str, s: float) -> None:
            await asyncio.sleep(s)
            woke.append((name, loop.time()))

        await asyncio.gather(sleeper("c", 30), sleeper("a", 10), sleeper("b", 20))
        return woke

    assert run_virtual(main, seed=7) == [("a", 10.0), ("b", 20.0), ("c", 30.0)]


def test_timeout_fires_at_its_virtual_deadline() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(5):
                await asyncio.sleep(10)
        return loop.time()

    assert run_virtual(main) == 5.0


def test_timeout_does_not_fire_when_work_is_faster() -> None:
    async def main() -> tuple[str, float]:
        async with asyncio.timeout(5):
            await asyncio.sleep(4.999)
        return "done", asyncio.get_running_loop().time()

    assert run_virtual(main) == ("done", 4.999)


def test_a_hang_under_a_timeout_becomes_a_timeout() -> None:
    async def main() -> float:
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(never, 2.5)
        return asyncio.get_running_loop().time()

    assert run_virtual(main) == 2.5


def test_many_cancelled_timers_are_dropped() -> None:
    async def main() -> float:
        for _ in range(500):  # each timeout's timer is cancelled when the block exits
            async with asyncio.timeout(1000):
                await asyncio.sleep(0.001)
        await asyncio.sleep(1)
        return asyncio.get_running_loop().time()

    assert run_virtual(main) == pytest.approx(1.5)


# -- interleavings ------------------------------------------------------------------------


def test_no_seed_keeps_fifo_order() -> None:
    order = run_virtual(_workers)
    assert order == [f"w{i}.{s}" for s in range(3) for i in range(4)]
    assert run_virtual_traced(_workers).reorders == 0


@settings(max_examples=50)
@given(seed=interleaving_seeds())
def test_same_seed_gives_identical_trace(seed: int) -> None:
    first = run_virtual_traced(_workers, seed=seed)
    second = run_virtual_traced(_workers, seed=seed)
    assert first.trace == second.trace
    assert first.result == second.result
    assert first.trace[0] == "main"


def test_different_seeds_give_different_orders() -> None:
    traces = {run_virtual_traced(_workers, seed=s).trace for s in range(200)}
    orders = {tuple(run_virtual(_workers, seed=s)) for s in range(200)}
    # 4 tasks x 3 steps have thousands of interleavings: nearly every seed finds a new one
    assert len(traces) >= 190
    assert len(orders) >= 190
    reordered = sum(run_virtual_traced(_workers, seed=s).reorders > 0 for s in range(50))
    assert reordered == 50


def test_every_task_position_is_reached() -> None:
    """Over many seeds each worker runs first in some run: the shuffle is not biased."""
    firsts = {run_virtual(_workers, seed=s)[0] for s in range(100)}
    assert firsts == {f"w{i}.0" for i in range(4)}


def test_task_names_are_per_loop() -> None:
    async def main() -> list[str]:
        tasks = [asyncio.create_task(asyncio.sleep(0)) for _ in range(3)]
        await asyncio.gather(*tasks)
        named = asyncio.create_task(asyncio.sleep(0), name="mine")
        await named
        return [t.get_name() for t in [*tasks, named]]

    assert run_virtual(main) == ["task-1", "task-2", "task-3", "mine"]
    assert run_virtual(main) == ["task-1", "task-2", "task-3", "mine"]


# -- deadlock and step limit --------------------------------------------------------------


def test_deadlock_is_raised_and_names_the_waiting_tasks() -> None:
    cleaned: list[str] = []

    async def main() -> None:
        event = asyncio.Event()

        async def waiter() -> None:
            try:
                await event.wait()
            finally:
                cleaned.append("waiter")

        await asyncio.create_task(waiter(), name="the-waiter")

    with pytest.raises(DeadlockError) as info:
        run_virtual(main)
    assert "the-waiter" in str(info.value)
    assert any(w.startswith("main") for w in info.value.waiting)
    assert cleaned == ["waiter"]  # the stuck task was cancelled and unwound


def test_deadlock_on_a_lone_never_set_future() -> None:
    async def main() -> None:
        await asyncio.get_running_loop().create_future()

    with pytest.raises(DeadlockError, match="main"):
        run_virtual(main, seed=3)


def test_endless_loop_hits_the_step_limit() -> None:
    async def main() -> None:
        while True:  # noqa: ASYNC110 (an endless loop is the point)
            await asyncio.sleep(1)

    with pytest.raises(StepLimitError, match="1000 loop iterations"):
        run_virtual(main, max_steps=1000)


def test_the_step_limit_is_a_deadlock_error() -> None:
    assert issubclass(StepLimitError, DeadlockError)


# -- results, errors, clean-up ------------------------------------------------------------


def test_exceptions_of_main_propagate() -> None:
    async def main() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        run_virtual(main)


def test_left_over_tasks_are_cancelled_and_awaited() -> None:
    stopped: list[str] = []

    async def main() -> str:
        async def forever() -> None:
            try:
                await asyncio.sleep(10**9)
            finally:
                stopped.append("forever")

        task = asyncio.create_task(forever())
        await asyncio.sleep(0)
        assert not task.done()
        return "done"

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run_virtual(main) == "done"
    assert stopped == ["forever"]


def test_open_async_generators_are_closed() -> None:
    closed: list[bool] = []

    async def gen() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            closed.append(True)

    async def main() -> int:
        return await anext(gen())

    assert run_virtual(main) == 1
    assert closed == [True]


def test_main_may_return_any_awaitable() -> None:
    def main() -> asyncio.Future[int]:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        fut.set_result(41)
        return fut

    assert run_virtual(main) == 41


def test_refused_inside_a_running_loop() -> None:
    async def inner() -> int:
        return 1

    async def main() -> None:
        run_virtual(inner)

    with pytest.raises(RuntimeError, match="event loop is running"):
        run_virtual(main)


def test_virtual_run_reports_time_and_steps() -> None:
    async def main() -> str:
        await asyncio.sleep(12.5)
        return "x"

    run = run_virtual_traced(main, seed=1)
    assert run.result == "x"
    assert run.virtual_time_s == 12.5
    assert run.seed == 1
    assert run.steps >= 2


# -- executor threads ---------------------------------------------------------------------


def _double(x: int) -> int:
    time.sleep(0.001 * (5 - x))  # later submissions finish first in real time
    return 2 * x


def test_thread_results_arrive_in_submission_order_without_virtual_time() -> None:
    async def main() -> tuple[list[int], list[int], float]:
        arrivals: list[int] = []

        async def one(x: int) -> int:
            r = await asyncio.to_thread(_double, x)
            arrivals.append(x)
            return r

        results = await asyncio.gather(*(one(x) for x in range(5)))
        return results, arrivals, asyncio.get_running_loop().time()

    results, arrivals, now = run_virtual(main)
    assert results == [0, 2, 4, 6, 8]
    assert arrivals == [0, 1, 2, 3, 4]
    assert now == 0.0


def test_thread_runs_are_replayable_under_a_seed() -> None:
    async def main() -> list[int]:
        seen: list[int] = []

        async def one(x: int) -> None:
            await asyncio.sleep(0)
            await asyncio.to_thread(_double, x)
            seen.append(x)

        await asyncio.gather(*(one(x) for x in range(5)))
        return seen

    runs = [run_virtual_traced(main, seed=11) for _ in range(3)]
    assert len({r.trace for r in runs}) == 1
    assert len({tuple(r.result) for r in runs}) == 1


def test_timeouts_do_not_fire_during_thread_work() -> None:
    async def main() -> int:
        async with asyncio.timeout(0.001):
            return await asyncio.to_thread(_double, 4)

    assert run_virtual(main) == 8


def test_thread_exceptions_propagate() -> None:
    def fail() -> None:
        raise ValueError("in thread")

    async def main() -> None:
        await asyncio.get_running_loop().run_in_executor(None, fail)

    with pytest.raises(ValueError, match="in thread"):
        run_virtual(main)


def test_thread_may_call_back_into_the_loop() -> None:
    async def main() -> int:
        loop = asyncio.get_running_loop()

        async def answer() -> int:
            await asyncio.sleep(0)  # virtual time is frozen while a thread works
            return 42

        def in_thread() -> int:
            return asyncio.run_coroutine_threadsafe(answer(), loop).result(timeout=30)

        return await asyncio.to_thread(in_thread)

    assert run_virtual(main) == 42


def test_stuck_thread_is_reported_not_waited_for_forever() -> None:
    release = threading.Event()

    async def main() -> None:
        await asyncio.to_thread(release.wait)

    loop = VirtualTimeLoop(real_timeout_s=0.2)
    try:
        with pytest.raises(DeadlockError, match="executor work"):
            loop.run_until_complete(main())
    finally:
        release.set()
        loop.shutdown_threads()
        loop.close()


# -- the fixture --------------------------------------------------------------------------


def test_virtual_fixture_runs_and_records(virtual: VirtualRunner) -> None:
    async def main() -> float:
        await asyncio.sleep(60)
        return asyncio.get_running_loop().time()

    assert virtual(main) == 60.0
    run = virtual.traced(_workers, seed=5)
    assert run.seed == 5
    assert [r.seed for r in virtual.runs] == [None, 5]


@given(seeds=st.lists(interleaving_seeds(), min_size=2, max_size=2, unique=True))
@settings(max_examples=20)
def test_seeds_are_plain_replayable_data(seeds: list[int]) -> None:
    runner = VirtualRunner()
    a, b = (runner.traced(_workers, seed=s) for s in seeds)
    assert runner.traced(_workers, seed=seeds[0]).trace == a.trace
    assert len(runner.runs) == 3
    assert b.seed == seeds[1]
