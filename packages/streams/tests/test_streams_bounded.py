"""async_gen_bounded_map: bounded concurrency, ordering, window bound, Errs, cleanup."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

import pytest
from funcpipe.async_plan import AsyncPlan
from funcpipe.policies import BackpressurePolicy
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import (
    AsyncGen,
    async_gen_bounded_map,
    async_gen_from_results,
    async_gen_map_action,
)
from funcpipe.testing import run_virtual
from hypothesis import given
from hypothesis import strategies as st

Item = Result[int, ErrInfo]


class Timed:
    """A source yielding ``items[i]`` after ``gaps[i]`` virtual seconds; counts opens/closes."""

    def __init__(self, items: list[Item], gaps: list[float] | None = None) -> None:
        self.items = items
        self.gaps = gaps
        self.opens = self.pulled = self.aclose_calls = self.finalised = 0
        self.raise_at: int | None = None

    def __call__(self) -> AsyncIterator[Item]:
        self.opens += 1

        async def _gen() -> AsyncGenerator[Item, None]:
            try:
                for i, r in enumerate(self.items):
                    if self.gaps:
                        await asyncio.sleep(self.gaps[i])
                    if self.raise_at == i:
                        raise RuntimeError("source broke")
                    self.pulled += 1
                    yield r
            finally:
                self.finalised += 1

        agen = _gen()
        probe = self

        class _It:
            def __aiter__(self) -> _It:
                return self

            async def __anext__(self) -> Item:
                return await agen.__anext__()

            async def aclose(self) -> None:
                probe.aclose_calls += 1
                await agen.aclose()

        return _It()


class Work:
    """Per-item plans that sleep ``durations[value]`` and record concurrency and completions."""

    def __init__(self, durations: dict[int, float]) -> None:
        self.durations = durations
        self.calls: list[int] = []
        self.in_flight = 0
        self.peak = 0
        self.completed: list[tuple[float, int]] = []
        self.started = 0
        self.consumed = 0
        self.max_held = 0  # max over time of (started - consumed)

    def __call__(self, x: int) -> AsyncPlan[int]:
        self.calls.append(x)

        async def _plan() -> Result[int, ErrInfo]:
            self.started += 1
            self.max_held = max(self.max_held, self.started - self.consumed)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            try:
                await asyncio.sleep(self.durations.get(x, 0.0))
            finally:
                self.in_flight -= 1
            self.completed.append((asyncio.get_running_loop().time(), x))
            if x < 0:
                return Err(ErrInfo(code="NEG", msg="negative", path=(x,)))
            return Ok(x * 10)

        return _plan


# Distinct values so completion records identify items; some Errs mixed in.
@st.composite
def workloads(draw: st.DrawFn) -> tuple[list[Item], dict[int, float]]:
    n = draw(st.integers(0, 25))
    values = draw(st.lists(st.integers(-50, 200), min_size=n, max_size=n, unique=True))
    items: list[Item] = []
    for v in values:
        if draw(st.integers(0, 5)) == 0:
            items.append(Err(ErrInfo(code="SRC", msg="source error", path=(v,))))
        else:
            items.append(Ok(v))
    durations = {v: draw(st.sampled_from([0.0, 0.001, 0.005, 0.02, 0.1])) for v in values}
    return items, durations


def drive(stream: AsyncGen[int], work: Work | None = None, seed: int = 0) -> list[Item]:
    async def main() -> list[Item]:
        out: list[Item] = []
        async for r in stream():
            out.append(r)
            if work is not None:
                work.consumed += 1
        assert asyncio.all_tasks() == {asyncio.current_task()}
        return out

    return run_virtual(main, seed=seed)


@given(workloads(), st.integers(1, 10), st.integers(0, 2**16))
def test_ordered_equals_sequential_map_action(
    wl: tuple[list[Item], dict[int, float]], n: int, seed: int
) -> None:
    items, durations = wl
    src = async_gen_from_results(items)
    seq = drive(async_gen_map_action(src, Work(durations)))
    work = Work(durations)
    out = drive(async_gen_bounded_map(src, work, BackpressurePolicy(n, ordered=True)), work, seed)
    assert out == seq
    # Errs passed through without calling f; f called once per Ok item
    assert sorted(work.calls) == sorted(r.value for r in items if isinstance(r, Ok))
    assert work.peak <= n
    assert work.max_held <= n


@given(workloads(), st.integers(0, 2**16))
def test_large_bound_equals_unbounded_map(
    wl: tuple[list[Item], dict[int, float]], seed: int
) -> None:
    items, durations = wl
    src = async_gen_from_results(items)
    expected = [
        r.and_then(lambda x: Err(ErrInfo("NEG", "negative", path=(x,))) if x < 0 else Ok(x * 10))
        for r in items
    ]
    work = Work(durations)
    out = drive(
        async_gen_bounded_map(src, work, BackpressurePolicy(max(1, len(items)))), work, seed
    )
    assert out == expected
    oks = sum(1 for r in items if isinstance(r, Ok))
    if oks and all(durations[r.value] > 0 for r in items if isinstance(r, Ok)):
        assert work.peak == oks  # all ran at once: the bound did not serialise anything


@given(workloads(), st.integers(1, 8), st.integers(0, 2**16))
def test_unordered_yields_in_completion_order(
    wl: tuple[list[Item], dict[int, float]], n: int, seed: int
) -> None:
    items, durations = wl
    src = async_gen_from_results(items)
    work = Work(durations)
    out = drive(async_gen_bounded_map(src, work, BackpressurePolicy(n, ordered=False)), work, seed)
    assert work.peak <= n
    assert work.max_held <= n
    expected = [
        r.and_then(lambda x: Err(ErrInfo("NEG", "negative", path=(x,))) if x < 0 else Ok(x * 10))
        for r in items
    ]
    key = repr
    assert sorted(map(key, out)) == sorted(map(key, expected))
    # results of plans come out in the order the plans completed
    done_order = [x for _, x in sorted(work.completed, key=lambda c: c[0])]
    got_order = [
        r.value // 10 if isinstance(r, Ok) else int(r.error.path[0])
        for r in out
        if isinstance(r, Ok) or r.error.code == "NEG"
    ]
    times = {x: t for t, x in work.completed}
    assert [times[x] for x in got_order] == sorted(times[x] for x in got_order)
    assert sorted(got_order) == sorted(done_order)


@given(st.integers(1, 8), st.integers(5, 30), st.booleans())
def test_straggler_holds_at_most_max_concurrent(n: int, count: int, ordered: bool) -> None:
    durations = dict.fromkeys(range(count), 0.001)
    durations[0] = 10.0  # the first item straggles
    work = Work(durations)
    src = Timed([Ok(i) for i in range(count)])
    out = drive(async_gen_bounded_map(src, work, BackpressurePolicy(n, ordered)), work)
    assert work.max_held <= n
    assert work.peak <= n
    assert src.pulled == count
    if ordered:
        assert out == [Ok(i * 10) for i in range(count)]
        # behind the straggler exactly the window was filled, and no more
        assert work.max_held == min(n, count)
    else:
        assert out[-1] == Ok(0) or n == 1


def test_source_is_read_only_when_there_is_room() -> None:
    work = Work(dict.fromkeys(range(20), 1.0))
    src = Timed([Ok(i) for i in range(20)])

    async def main() -> None:
        it = async_gen_bounded_map(src, work, BackpressurePolicy(3))()
        await asyncio.sleep(0.5)
        assert src.pulled == 0  # nothing happens before the first pull
        assert await it.__anext__() == Ok(0)
        await asyncio.sleep(0.5)
        assert src.pulled <= 1 + 3
        await it.aclose()  # type: ignore[attr-defined]
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run_virtual(main)
    assert (src.aclose_calls, src.finalised) == (1, 1)


def test_exceptions_become_errs_and_source_errors_propagate() -> None:
    def f(x: int) -> AsyncPlan[int]:
        if x == 1:
            raise ValueError("cannot build")

        async def _p() -> Result[int, ErrInfo]:
            if x == 2:
                raise KeyError("inside")
            return Ok(x)

        return _p

    for ordered in (True, False):
        out = drive(
            async_gen_bounded_map(
                async_gen_from_results([Ok(0), Ok(1), Ok(2), Ok(3)]),
                f,
                BackpressurePolicy(2, ordered),
            )
        )
        errs = [r for r in out if isinstance(r, Err)]
        assert len(out) == 4
        assert [e.error.code for e in errs] == [codes.UNEXPECTED] * 2

    src = Timed([Ok(i) for i in range(5)])
    src.raise_at = 3

    got: list[Item] = []

    async def consume() -> None:
        async for r in async_gen_bounded_map(src, Work({}), BackpressurePolicy(2))():
            got.append(r)

    async def main() -> list[Item]:
        with pytest.raises(RuntimeError, match="source broke"):
            await consume()
        return got

    assert run_virtual(main) == [Ok(0), Ok(10), Ok(20)]


@pytest.mark.parametrize("ordered", [True, False])
@pytest.mark.parametrize("how", ["break", "aclose", "raise", "cancel"])
def test_early_exit_cancels_plans_and_closes_source_once(ordered: bool, how: str) -> None:
    work = Work({i: 0.01 * (i % 4) for i in range(100)})
    src = Timed([Ok(i) for i in range(100)], gaps=[0.001] * 100)
    stream = async_gen_bounded_map(src, work, BackpressurePolicy(4, ordered))

    async def main() -> None:
        if how == "break":
            async for _ in stream():
                break
        elif how == "aclose":
            it = stream()
            await it.__anext__()
            await it.aclose()  # type: ignore[attr-defined]
            assert asyncio.all_tasks() == {asyncio.current_task()}  # nothing left, at once
        elif how == "raise":
            try:
                async for _ in stream():
                    raise KeyError("downstream")
            except KeyError:
                pass
        else:
            task = asyncio.get_running_loop().create_task(_consume_forever(stream))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        await asyncio.sleep(0.001)
        assert asyncio.all_tasks() == {asyncio.current_task()}
        assert work.in_flight == 0

    run_virtual(main)
    assert (src.opens, src.aclose_calls, src.finalised) == (1, 1, 1)
    assert src.pulled < 100


async def _consume_forever(stream: AsyncGen[int]) -> None:
    async for _ in stream():
        await asyncio.sleep(0.003)


def test_building_does_nothing_and_each_call_replays() -> None:
    work = Work({})
    src = Timed([Ok(1), Ok(2), Ok(3)])
    stream = async_gen_bounded_map(src, work, BackpressurePolicy(2))
    assert (src.opens, work.calls) == (0, [])
    assert drive(stream) == drive(stream) == [Ok(10), Ok(20), Ok(30)]
    assert src.opens == 2


def test_policy_type_is_checked() -> None:
    with pytest.raises(TypeError, match="BackpressurePolicy"):
        async_gen_bounded_map(async_gen_from_results([]), Work({}), 8)  # type: ignore[arg-type]


@given(st.integers(0, 2**16))
def test_interleavings_do_not_change_ordered_output(seed: int) -> None:
    durations = {i: [0.0, 0.002, 0.001][i % 3] for i in range(12)}
    src = async_gen_from_results([Ok(i) for i in range(12)])
    out = drive(async_gen_bounded_map(src, Work(durations), BackpressurePolicy(4)), seed=seed)
    assert out == [Ok(i * 10) for i in range(12)]


def test_a_source_that_cannot_start_raises_to_the_consumer() -> None:
    def broken() -> AsyncIterator[Item]:
        raise OSError("cannot open")

    async def main() -> None:
        with pytest.raises(OSError, match="cannot open"):
            await drain_all(async_gen_bounded_map(broken, Work({}), BackpressurePolicy(2)))
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run_virtual(main)


async def drain_all(stream: AsyncGen[int]) -> list[Item]:
    return [r async for r in stream()]
