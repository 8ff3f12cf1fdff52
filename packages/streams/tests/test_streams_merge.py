"""async_gen_gather (arrival order, bounded queue) and async_gen_fair_merge (weighted shares)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

import pytest
from funcpipe.policies import FairnessPolicy
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen, async_gen_fair_merge, async_gen_gather
from funcpipe.testing import run_virtual
from hypothesis import given
from hypothesis import strategies as st

Item = Result[int, ErrInfo]


class Timed:
    """Yields ``items[i]`` after ``gaps[i]`` virtual seconds; records yield times and closes."""

    def __init__(self, items: list[int], gaps: list[float] | None = None) -> None:
        self.items = items
        self.gaps = gaps
        self.times: list[float] = []
        self.opens = self.pulled = self.aclose_calls = self.finalised = 0
        self.raise_at: int | None = None

    def __call__(self) -> AsyncIterator[Item]:
        self.opens += 1

        async def _gen() -> AsyncGenerator[Item, None]:
            loop = asyncio.get_running_loop()
            try:
                for i, x in enumerate(self.items):
                    if self.gaps:
                        await asyncio.sleep(self.gaps[i])
                    if self.raise_at == i:
                        raise RuntimeError("source broke")
                    self.pulled += 1
                    self.times.append(loop.time())
                    yield Ok(x)
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


def tagged(k: int, n: int) -> list[int]:
    """Items of source k: k*1000 + i, so an output item names its source and position."""
    return [k * 1000 + i for i in range(n)]


# ------------------------------------------------------------------------------ gather


@given(
    st.lists(
        st.lists(st.sampled_from([0.0, 0.001, 0.003, 0.01]), max_size=8), min_size=1, max_size=5
    ),
    st.integers(0, 2**16),
)
def test_gather_yields_in_arrival_order(gaps: list[list[float]], seed: int) -> None:
    sources = [Timed(tagged(k, len(g)), g) for k, g in enumerate(gaps)]

    async def main() -> list[tuple[float, int]]:
        loop = asyncio.get_running_loop()
        stream = async_gen_gather(sources, max_buffer=len(sources))
        out = [(loop.time(), r.unwrap()) async for r in stream()]
        assert asyncio.all_tasks() == {asyncio.current_task()}
        return out

    out = run_virtual(main, seed=seed)
    values = [x for _, x in out]
    assert sorted(values) == sorted(x for s in sources for x in s.items)  # complete
    for k in range(len(sources)):  # each source keeps its own order
        mine = [x for x in values if x // 1000 == k]
        assert mine == sources[k].items
    arrival = {x: t for s in sources for x, t in zip(s.items, s.times, strict=True)}
    assert [arrival[x] for x in values] == sorted(arrival[x] for x in values)
    assert all(t_out == arrival[x] for t_out, x in out)  # no delay: yielded when it arrived


@given(st.integers(1, 6), st.integers(1, 5))
def test_gather_queue_is_bounded(max_buffer: int, k: int) -> None:
    sources = [Timed(tagged(i, 100)) for i in range(k)]

    async def main() -> None:
        it = async_gen_gather(sources, max_buffer=max_buffer)()
        await it.__anext__()
        await asyncio.sleep(10.0)  # the consumer stalls; sources are always ready
        pulled = sum(s.pulled for s in sources)
        assert pulled <= 1 + max_buffer + k
        assert pulled >= 1 + max_buffer  # the buffer did fill: the bound is what stopped them
        await it.aclose()  # type: ignore[attr-defined]
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run_virtual(main)
    assert all((s.opens, s.aclose_calls, s.finalised) == (1, 1, 1) for s in sources)


def test_gather_failing_source_becomes_one_err_item() -> None:
    bad = Timed(tagged(1, 5), [0.001] * 5)
    bad.raise_at = 2
    good = Timed(tagged(0, 4), [0.002] * 4)

    async def main() -> list[Item]:
        return [r async for r in async_gen_gather([good, bad])()]

    out = run_virtual(main)
    errs = [r for r in out if isinstance(r, Err)]
    assert len(errs) == 1
    assert errs[0].error.code == codes.UNEXPECTED
    assert errs[0].error.ctx["source"] == 1
    assert [r.unwrap() for r in out if isinstance(r, Ok) and r.value >= 1000] == [1000, 1001]
    assert [r.unwrap() for r in out if isinstance(r, Ok) and r.value < 1000] == good.items
    # the Err comes after the failing source's last item
    assert out.index(errs[0]) > out.index(Ok(1001))


def test_gather_edge_cases() -> None:
    with pytest.raises(ValueError, match="max_buffer"):
        async_gen_gather([], max_buffer=0)

    async def main() -> list[Item]:
        empty: list[AsyncGen[int]] = []
        return [r async for r in async_gen_gather(empty)()]

    assert run_virtual(main) == []


# -------------------------------------------------------------------------- fair merge

weights_st = st.lists(st.integers(1, 4), min_size=1, max_size=4)


@given(weights_st, st.integers(1, 4), st.integers(0, 2**16))
def test_fair_merge_shares_equalise_among_always_ready_streams(
    weights: list[int], buf: int, seed: int
) -> None:
    k = len(weights)
    sources = [Timed(tagged(i, 400)) for i in range(k)]
    policy = FairnessPolicy(dict(enumerate(weights)), max_buffer_per_stream=buf)
    steps = 30 * sum(weights)

    async def main() -> list[int]:
        out: list[int] = []
        async for r in async_gen_fair_merge(sources, policy)():
            out.append(r.unwrap())
            if len(out) == steps:
                break
            await asyncio.sleep(0.001)  # a slower consumer: every source stays ready
        return out

    out = run_virtual(main, seed=seed)
    emitted = [0] * k
    spread_bound = 1 / min(weights) + 1e-9
    for x in out:
        emitted[x // 1000] += 1
        ratios = [emitted[i] / weights[i] for i in range(k)]
        assert max(ratios) - min(ratios) <= spread_bound
    # after whole rounds, shares are exactly proportional to the weights
    assert emitted == [30 * w for w in weights]
    for i in range(k):  # per-source order kept
        assert [x for x in out if x // 1000 == i] == sources[i].items[: emitted[i]]


def weighted_order(weights: list[int], n: int) -> list[int]:
    """The reference: each step takes the lowest emitted/weight ratio, the lowest index on ties.

    Its ratios never spread by more than 1/min(weights): the lane taken is at the minimum m and
    moves to m + 1/w_i <= m + 1/min(weights), and the minimum never falls.
    """
    emitted = [0] * len(weights)
    out = []
    for _ in range(n):
        i = min(range(len(weights)), key=lambda j: (emitted[j] / weights[j], j))
        emitted[i] += 1
        out.append(i)
    return out


def ready_source(k: int, yield_loop: bool) -> AsyncGen[int]:
    """An endless source that is always ready: it never waits, or only ``sleep(0)`` per item."""

    async def _gen() -> AsyncGenerator[Item, None]:
        while True:
            if yield_loop:
                await asyncio.sleep(0)
            yield Ok(k)

    return _gen


@given(
    weights_st,
    st.integers(1, 4),
    st.booleans(),
    st.none() | st.integers(0, 2**16),
)
def test_fair_merge_share_law_with_a_fast_consumer(
    weights: list[int], buf: int, yield_loop: bool, seed: int | None
) -> None:
    # always-ready sources and a consumer that never waits: the order is exactly the weighted
    # reference (so the emitted/weight spread stays within 1/min(weights)); seed None runs on
    # a real asyncio loop, a seed on the virtual-time loop with shuffled interleavings
    sources = [ready_source(i, yield_loop) for i in range(len(weights))]
    policy = FairnessPolicy(dict(enumerate(weights)), max_buffer_per_stream=buf)
    n = 20 * sum(weights)

    async def main() -> list[int]:
        out: list[int] = []
        async for r in async_gen_fair_merge(sources, policy)():
            out.append(r.unwrap())
            if len(out) == n:
                break
        return out

    out = asyncio.run(main()) if seed is None else run_virtual(main, seed=seed)
    assert out == weighted_order(weights, n)
    assert [out.count(i) for i in range(len(weights))] == [20 * w for w in weights]


@given(weights_st, st.integers(1, 3), st.integers(0, 2**16))
def test_fair_merge_serves_every_live_stream(weights: list[int], buf: int, seed: int) -> None:
    # stream 0 is slow (one item every 50 ms); the others are always ready
    k = len(weights) + 1
    w = {0: 1, **{i + 1: wt for i, wt in enumerate(weights)}}
    slow = Timed(tagged(0, 6), [0.05] * 6)
    fast = [Timed(tagged(i, 2000)) for i in range(1, k)]
    sources = [slow, *fast]
    policy = FairnessPolicy(w, max_buffer_per_stream=buf)

    async def main() -> list[tuple[float, int]]:
        loop = asyncio.get_running_loop()
        out: list[tuple[float, int]] = []
        async for r in async_gen_fair_merge(sources, policy)():
            out.append((loop.time(), r.unwrap()))
            if len([x for _, x in out if x < 1000]) == len(slow.items):
                break
            await asyncio.sleep(0.001)
        return out

    out = run_virtual(main, seed=seed)
    slow_out = [x for _, x in out if x < 1000]
    assert slow_out == slow.items  # every slow item served, in order
    # each slow item waited at most a bounded number of emissions after it arrived
    bound = sum(w[j] + 1 for j in range(1, k)) + 1
    for x, arrived in zip(slow.items, slow.times, strict=True):
        pos = next(i for i, (_, y) in enumerate(out) if y == x)
        before = sum(1 for t, _ in out if t < arrived)
        assert pos - before <= bound
    assert all(any(y // 1000 == j for _, y in out) for j in range(1, k))  # fast ones too


@given(st.integers(1, 3), st.integers(1, 3))
def test_fair_merge_late_stream_banks_at_most_one_round(w_late: int, w_other: int) -> None:
    # stream 0 has nothing for 1 s, then is always ready: it must not starve stream 1
    late = Timed(tagged(0, 300), [1.0] + [0.0] * 299)
    other = Timed(tagged(1, 3000))
    policy = FairnessPolicy({0: w_late, 1: w_other}, max_buffer_per_stream=4)

    async def main() -> list[int]:
        out: list[int] = []
        async for r in async_gen_fair_merge([late, other], policy)():
            out.append(r.unwrap())
            if len(out) == 1000 + 100:
                break
            await asyncio.sleep(0.001)
        return out

    out = run_virtual(main)
    first_late = next(i for i, x in enumerate(out) if x < 1000)
    assert first_late > 500  # it was idle while stream 1 ran alone
    run = longest = 0
    for x in out[first_late:]:
        run = run + 1 if x < 1000 else 0
        longest = max(longest, run)
    assert longest <= 2 * w_late + w_late // w_other + 1  # one round of credit, then shares


@given(st.integers(1, 4), st.integers(0, 5))
def test_fair_merge_closes_every_source_on_early_exit(k: int, take: int) -> None:
    sources = [Timed(tagged(i, 50), [0.001 * (i + 1)] * 50) for i in range(k)]

    async def main() -> None:
        n = 0
        async for _ in async_gen_fair_merge(sources)():
            n += 1
            if n > take:
                break
        await asyncio.sleep(0.001)
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run_virtual(main)
    assert all((s.opens, s.aclose_calls, s.finalised) == (1, 1, 1) for s in sources)


def test_fair_merge_failing_source_and_completion() -> None:
    bad = Timed(tagged(1, 5))
    bad.raise_at = 3
    sources = [Timed(tagged(0, 7)), bad, Timed(tagged(2, 2))]

    async def main() -> list[Item]:
        return [r async for r in async_gen_fair_merge(sources)()]

    out = run_virtual(main)
    errs = [r for r in out if isinstance(r, Err)]
    assert len(errs) == 1
    assert errs[0].error.ctx["source"] == 1
    oks = sorted(r.unwrap() for r in out if isinstance(r, Ok))
    assert oks == sorted([*tagged(0, 7), 1000, 1001, 1002, *tagged(2, 2)])


def test_fair_merge_building_does_nothing_and_replays() -> None:
    sources: list[AsyncGen[int]] = [Timed(tagged(0, 3)), Timed(tagged(1, 3))]
    stream = async_gen_fair_merge(sources, FairnessPolicy({1: 2}))
    assert all(s.opens == 0 for s in sources)  # type: ignore[attr-defined]

    async def main() -> list[Item]:
        return [r async for r in stream()]

    assert run_virtual(main) == run_virtual(main)
    with pytest.raises(TypeError, match="FairnessPolicy"):
        async_gen_fair_merge(sources, {0: 1})  # type: ignore[arg-type]
