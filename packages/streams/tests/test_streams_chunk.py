"""async_gen_chunk: order, completeness, size and delay bounds, Err flushing, cleanup."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

import pytest
from funcpipe.policies import ChunkPolicy, RealSleeper
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import async_gen_chunk, async_gen_from_list
from funcpipe.testing import FakeClock, run_virtual
from hypothesis import given
from hypothesis import strategies as st

Item = Result[int, ErrInfo]


class Timed:
    """Yields ``items[i]`` after ``gaps_ms[i]`` virtual ms; records arrival times and closes."""

    def __init__(self, items: list[Item], gaps_ms: list[int]) -> None:
        self.items = items
        self.gaps_ms = gaps_ms
        self.arrivals: list[float] = []
        self.pulled = self.aclose_calls = self.finalised = 0

    def __call__(self) -> AsyncIterator[Item]:
        async def _gen() -> AsyncGenerator[Item, None]:
            loop = asyncio.get_running_loop()
            try:
                for r, gap in zip(self.items, self.gaps_ms, strict=True):
                    await asyncio.sleep(gap / 1000)
                    self.pulled += 1
                    self.arrivals.append(loop.time())
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


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Item], list[int]]:
    n = draw(st.integers(0, 30))
    items: list[Item] = []
    for i in range(n):
        if draw(st.integers(0, 6)) == 0:
            items.append(Err(ErrInfo(code="SRC", msg="bad item", path=(i,))))
        else:
            items.append(Ok(draw(st.integers(0, 6)) * 1000 + i))  # size = value // 1000
    gaps = draw(st.lists(st.sampled_from([0, 0, 1, 7, 40, 120, 400]), min_size=n, max_size=n))
    return items, gaps


def size_of(x: int) -> int:
    return x // 1000


policies = st.builds(
    ChunkPolicy,
    max_units=st.shared(st.integers(0, 12), key="units"),
    max_delay_ms=st.shared(st.integers(0, 12), key="units").flatmap(
        lambda units: st.sampled_from([0, 1, 50, 100, 250] if units else [1, 50, 100, 250])
    ),
    flush_on_err=st.booleans(),
    size_fn=st.just(size_of),
)


def run_chunk(
    items: list[Item], gaps: list[int], policy: ChunkPolicy[int], seed: int = 0
) -> tuple[Timed, list[tuple[float, Result[list[int], ErrInfo]]]]:
    src = Timed(items, gaps)

    async def main() -> list[tuple[float, Result[list[int], ErrInfo]]]:
        loop = asyncio.get_running_loop()
        stream = async_gen_chunk(src, policy)(RealSleeper())
        out = [(loop.time(), r) async for r in stream()]
        assert asyncio.all_tasks() == {asyncio.current_task()}
        return out

    return src, run_virtual(main, seed=seed)


@given(scenarios(), policies, st.integers(0, 2**16))
def test_chunk_laws(
    scenario: tuple[list[Item], list[int]], policy: ChunkPolicy[int], seed: int
) -> None:
    items, gaps = scenario
    src, out = run_chunk(items, gaps, policy, seed)
    results = [r for _, r in out]
    batches = [r.value for r in results if isinstance(r, Ok)]
    # order and completeness; Errs pass through
    oks = [r.value for r in items if isinstance(r, Ok)]
    assert [x for b in batches for x in b] == oks
    assert [r for r in results if isinstance(r, Err)] == [r for r in items if isinstance(r, Err)]
    if policy.flush_on_err:  # an Err flushes first: the flattened output is the input
        flat: list[Item] = []
        for r in results:
            flat.extend(Ok(x) for x in r.value) if isinstance(r, Ok) else flat.append(r)
        assert flat == items
    for b in batches:
        assert b  # never an empty batch
        if policy.max_units:  # size bound; an oversized item goes alone
            assert sum(map(size_of, b)) <= policy.max_units or (
                len(b) == 1 and size_of(b[0]) > policy.max_units
            )
            assert len(b) <= policy.max_units  # an item counts at least 1 unit
    # delay bound: no Ok item waits longer than max_delay_ms (+1 ms of Sleeper granularity)
    if policy.max_delay_ms:
        arrival = {
            r.value: t for r, t in zip(items, src.arrivals, strict=True) if isinstance(r, Ok)
        }
        for t, r in out:
            if isinstance(r, Ok):
                for x in r.value:
                    assert t - arrival[x] <= (policy.max_delay_ms + 1) / 1000 + 1e-9
    assert (src.aclose_calls, src.finalised) == (1, 1)


def packed(sizes: list[int], max_units: int) -> list[list[int]]:
    """The reference batching by size alone: item i costs max(1, sizes[i]) units."""
    out: list[list[int]] = []
    batch: list[int] = []
    units = 0
    for i, size in enumerate(sizes):
        cost = max(1, size)
        if batch and (cost > max_units or units + cost > max_units):
            out.append(batch)
            batch, units = [], 0
        batch.append(i)
        units += cost
        if units >= max_units:
            out.append(batch)
            batch, units = [], 0
    return [*out, batch] if batch else out


@given(
    st.lists(st.sampled_from([0, 0, 0, 1, 2, 5]), max_size=60),
    st.integers(1, 6),
    st.sampled_from([0, 100]),
)
def test_zero_size_items_count_one_unit(sizes: list[int], max_units: int, delay_ms: int) -> None:
    # a size_fn returning 0 must not make the batch unbounded: max_units bounds the item count
    policy: ChunkPolicy[int] = ChunkPolicy(max_units, delay_ms, size_fn=sizes.__getitem__)
    stream = async_gen_chunk(async_gen_from_list(range(len(sizes))), policy)(RealSleeper())

    async def main() -> list[Result[list[int], ErrInfo]]:
        return [r async for r in stream()]

    batches = [r.unwrap() for r in run_virtual(main)]
    assert batches == packed(sizes, max_units)
    assert all(len(b) <= max_units for b in batches)


def test_flush_reasons_each_happen() -> None:
    ok: list[Item] = [Ok(1000 + i) for i in range(7)]
    # size: units reach max_units
    _, out = run_chunk(ok[:4], [0] * 4, ChunkPolicy(max_units=2, max_delay_ms=0, size_fn=size_of))
    assert [r for _, r in out] == [Ok([1000, 1001]), Ok([1002, 1003])]
    # age: the source stalls, the batch goes out at its deadline, not at the next arrival
    _, out = run_chunk(
        ok[:3], [0, 10, 500], ChunkPolicy(max_units=10, max_delay_ms=100, size_fn=size_of)
    )
    assert [r for _, r in out] == [Ok([1000, 1001]), Ok([1002])]
    assert out[0][0] == pytest.approx(0.1)
    # oversized goes alone, after flushing what was pending
    big: Item = Ok(9000)
    _, out = run_chunk(
        [ok[0], big, ok[1]], [0, 0, 0], ChunkPolicy(max_units=3, max_delay_ms=0, size_fn=size_of)
    )
    assert [r for _, r in out] == [Ok([1000]), Ok([9000]), Ok([1001])]
    # Err flushes first (or not)
    e: Item = Err(ErrInfo(code="SRC", msg="x"))
    _, out = run_chunk(
        [ok[0], e, ok[1]], [0, 0, 0], ChunkPolicy(max_units=5, max_delay_ms=0, size_fn=size_of)
    )
    assert [r for _, r in out] == [Ok([1000]), e, Ok([1001])]
    _, out = run_chunk(
        [ok[0], e, ok[1]],
        [0, 0, 0],
        ChunkPolicy(max_units=5, max_delay_ms=0, flush_on_err=False, size_fn=size_of),
    )
    assert [r for _, r in out] == [e, Ok([1000, 1001])]
    # end of stream flushes
    _, out = run_chunk(ok[:3], [0] * 3, ChunkPolicy(max_units=10, max_delay_ms=0, size_fn=size_of))
    assert [r for _, r in out] == [Ok([1000, 1001, 1002])]


def test_bad_sizes_become_errs_and_unbounded_policy_is_refused() -> None:
    def size(x: int) -> int:
        if x == 2:
            raise ValueError("no size")
        return -1 if x == 3 else 1

    _, out = run_chunk(
        [Ok(1), Ok(2), Ok(3), Ok(4)],
        [0] * 4,
        ChunkPolicy(max_units=10, max_delay_ms=0, size_fn=size),
    )
    rs = [r for _, r in out]
    assert rs[0] == Ok([1])
    assert [r.error.code for r in rs if isinstance(r, Err)] == [
        codes.UNEXPECTED,
        codes.INVALID_INPUT,
    ]
    assert rs[-1] == Ok([4])
    with pytest.raises(ValueError, match="unbounded"):
        async_gen_chunk(async_gen_from_list([1]), ChunkPolicy(max_units=0, max_delay_ms=0))
    with pytest.raises(TypeError, match="ChunkPolicy"):
        async_gen_chunk(async_gen_from_list([1]), {"max_units": 3})  # type: ignore[arg-type]


def test_one_item_of_look_ahead_and_early_exit() -> None:
    src = Timed([Ok(1000 + i) for i in range(50)], [30] * 50)
    policy = ChunkPolicy(max_units=100, max_delay_ms=100, size_fn=size_of)

    async def main() -> None:
        it = async_gen_chunk(src, policy)(RealSleeper())()
        first = await it.__anext__()
        # arrivals at 30, 60, 90, 120 ms; the deadline is at 130 ms
        assert first == Ok([1000, 1001, 1002, 1003])
        await asyncio.sleep(1.0)  # the consumer stalls: the source is read one item ahead only
        assert src.pulled == 5
        await it.aclose()  # type: ignore[attr-defined]
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run_virtual(main)
    assert (src.aclose_calls, src.finalised) == (1, 1)


@pytest.mark.parametrize("how", ["break", "cancel"])
def test_early_exit_leaves_nothing(how: str) -> None:
    src = Timed([Ok(1000 + i) for i in range(50)], [30] * 50)
    stream = async_gen_chunk(src, ChunkPolicy(max_units=100, max_delay_ms=100, size_fn=size_of))(
        RealSleeper()
    )

    async def consume() -> None:
        async for _ in stream():
            if how == "break":
                break
            await asyncio.sleep(3600)

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(consume())
        await asyncio.sleep(0.5)
        if how == "cancel":
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0.001)
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run_virtual(main)
    assert (src.aclose_calls, src.finalised) == (1, 1)


def test_works_with_a_fake_clock_sleeper() -> None:
    clock = FakeClock()
    stream = async_gen_chunk(
        async_gen_from_list(range(5)), ChunkPolicy(max_units=2, max_delay_ms=50)
    )(clock)

    async def main() -> list[Result[list[int], ErrInfo]]:
        return [r async for r in stream()]

    out = run_virtual(main)
    assert [x for r in out for x in r.unwrap()] == [0, 1, 2, 3, 4]
    assert all(0 < len(r.unwrap()) <= 2 for r in out)
