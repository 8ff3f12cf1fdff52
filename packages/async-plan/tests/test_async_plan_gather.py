"""async_gather: input order, lowest-index Err, bounded in-flight work, nothing left running.

Runs on funcpipe.testing's virtual-time loop with seeded interleavings (no real sleeps).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from funcpipe.async_plan import AsyncPlan, async_gather, async_pure
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from hypothesis import given
from hypothesis import strategies as st

try:
    from funcpipe.testing import run_virtual
except ImportError:  # funcpipe-async-plan installed alone: funcpipe-testing is not there
    pytest.skip("needs funcpipe-testing", allow_module_level=True)

R = Result[int, ErrInfo]


@dataclass(frozen=True)
class Spec:
    outcome: str  # "ok" | "err" | "raise"
    delay_ms: int


@dataclass
class Probe:
    """Counts plans running right now, the peak, and which ones started and completed."""

    running: int = 0
    peak: int = 0
    started: list[int] = field(default_factory=list)
    completed: set[int] = field(default_factory=set)
    errors: dict[int, BaseException] = field(default_factory=dict)

    def plan(self, i: int, spec: Spec) -> AsyncPlan[int]:
        async def _run() -> R:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.started.append(i)
            try:
                await asyncio.sleep(spec.delay_ms / 1000)
                self.completed.add(i)
                if spec.outcome == "err":
                    return Err(ErrInfo(codes.TRANSIENT, f"plan {i} failed", path=(i,)))
                if spec.outcome == "raise":
                    exc = RuntimeError(f"plan {i} raised")
                    self.errors[i] = exc
                    raise exc
                return Ok(i * 10)
            finally:
                self.running -= 1

        return _run


specs = st.builds(
    Spec,
    outcome=st.sampled_from(["ok", "ok", "ok", "ok", "err", "raise"]),
    delay_ms=st.integers(0, 50),
)


def _others_alive() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()}


@given(st.lists(specs, max_size=12), st.integers(1, 6), st.integers(0, 2**16))
def test_order_lowest_err_bound_and_cleanup(spec_list: list[Spec], conc: int, seed: int) -> None:
    probe = Probe()
    plans = [probe.plan(i, s) for i, s in enumerate(spec_list)]

    async def main() -> tuple[R | Result[list[int], ErrInfo], set[asyncio.Task[object]]]:
        out = await async_gather(plans, concurrency=conc)()
        return out, _others_alive()

    out, alive = run_virtual(main, seed=seed)

    assert alive == set()  # nothing left running after it returns
    assert probe.running == 0
    assert probe.peak <= conc  # never more than `concurrency` in flight
    failing = [i for i, s in enumerate(spec_list) if s.outcome != "ok"]
    if not failing:
        assert out == Ok([i * 10 for i in range(len(spec_list))])  # input order
        assert probe.peak == min(conc, len(spec_list))  # the bound is reached, not avoided
        assert sorted(probe.started) == list(range(len(spec_list)))
        return
    first = failing[0]
    assert isinstance(out, Err)
    if spec_list[first].outcome == "err":
        assert out.error == ErrInfo(codes.TRANSIENT, f"plan {first} failed", path=(first,))
    else:
        assert out.error.code == codes.UNEXPECTED  # an exception became a value
        assert out.error.cause is probe.errors[first]
        assert out.error.path == (first,)  # keyed by the plan's index, like the Err case
    assert set(range(first + 1)) <= probe.completed  # plans before the failure still ran


@given(
    st.lists(st.integers(1_000, 5_000), min_size=1, max_size=10),
    st.integers(1, 4),
    st.integers(1, 999),
    st.integers(0, 2**16),
)
def test_cancelling_the_gather_leaves_nothing_running(
    delays_ms: list[int], conc: int, cancel_after_ms: int, seed: int
) -> None:
    probe = Probe()
    plans = [probe.plan(i, Spec("ok", d)) for i, d in enumerate(delays_ms)]

    async def main() -> tuple[bool, set[asyncio.Task[object]]]:
        task = asyncio.ensure_future(async_gather(plans, concurrency=conc)())
        await asyncio.sleep(cancel_after_ms / 1000)
        assert probe.running == min(conc, len(delays_ms))  # still busy when cancelled
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return True, _others_alive()
        return False, _others_alive()

    cancelled, alive = run_virtual(main, seed=seed)
    assert cancelled
    assert alive == set()
    assert probe.running == 0
    assert probe.completed == set()


def test_a_second_cancel_during_cleanup_still_waits_for_every_plan() -> None:
    running = 0

    async def slow_to_stop() -> R:
        nonlocal running
        running += 1
        try:
            await asyncio.sleep(10)
            return Ok(1)
        except asyncio.CancelledError:
            await asyncio.sleep(1)  # cleanup that takes a while
            raise
        finally:
            running -= 1

    async def main() -> tuple[bool, int]:
        task = asyncio.ensure_future(async_gather([slow_to_stop] * 3)())
        await asyncio.sleep(0.1)
        task.cancel()
        await asyncio.sleep(0.5)  # the gather is now waiting for its plans to stop
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return True, running
        return False, running

    cancelled, still_running = run_virtual(main)
    assert cancelled
    assert still_running == 0


def test_a_plan_cancelled_on_its_own_cancels_the_gather() -> None:
    async def cancelled_inside() -> R:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.cancel()
        await fut
        return Ok(1)

    async def main() -> str:
        try:
            out = await async_gather([async_pure(0), cancelled_inside])()
        except asyncio.CancelledError:
            return "cancelled"
        return repr(out)

    assert run_virtual(main) == "cancelled"  # never Ok([0, None])


def test_an_early_err_stops_later_plans() -> None:
    probe = Probe()
    spec_list = [Spec("err", 1), Spec("ok", 100), Spec("ok", 100), Spec("ok", 100)]
    plans = [probe.plan(i, s) for i, s in enumerate(spec_list)]

    async def main() -> Result[list[int], ErrInfo]:
        return await async_gather(plans, concurrency=2)()

    out = run_virtual(main)
    assert isinstance(out, Err)
    assert out.error.path == (0,)
    assert probe.started == [0, 1]  # plans 2 and 3 never started
    assert probe.completed == {0}  # plan 1 was cancelled
    assert probe.running == 0


def test_empty_and_replayed_gather() -> None:
    async def main() -> tuple[object, object, object]:
        g = async_gather([async_pure(1), async_pure(2)], concurrency=1)
        return await async_gather([])(), await g(), await g()

    assert run_virtual(main) == (Ok([]), Ok([1, 2]), Ok([1, 2]))


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2", None])
def test_concurrency_below_one_is_refused_at_build_time(bad: object) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        async_gather([async_pure(1)], concurrency=bad)  # type: ignore[arg-type]
