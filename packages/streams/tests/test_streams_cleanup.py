"""Early exit, for every combinator: what ``aclosing`` guarantees and what plain ``break`` gives."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable

from funcpipe.async_plan import async_pure
from funcpipe.policies import (
    BackpressurePolicy,
    ChunkPolicy,
    FairnessPolicy,
    RateLimitPolicy,
    RealSleeper,
)
from funcpipe.result import ErrInfo, Ok, Result
from funcpipe.streams import (
    AsyncGen,
    async_gen_and_then,
    async_gen_bounded_map,
    async_gen_chunk,
    async_gen_drop_errors,
    async_gen_fair_merge,
    async_gen_filter,
    async_gen_flatten,
    async_gen_gather,
    async_gen_map,
    async_gen_map_action,
    async_gen_map_err,
    async_gen_rate_limited,
    async_gen_take,
    async_gen_take_until_err,
    async_gen_tap,
    async_gen_using,
)
from funcpipe.testing import run_virtual
from hypothesis import given
from hypothesis import strategies as st

Item = Result[int, ErrInfo]


class Probe:
    """Endless sources (an item every 1 ms) whose cleanup has to wait; counts finished closes."""

    def __init__(self, slow_close: bool) -> None:
        self.slow_close = slow_close
        self.opened = self.closed = 0

    def source(self) -> AsyncGen[int]:
        async def _gen() -> AsyncGenerator[Item, None]:
            self.opened += 1
            try:
                i = 0
                while True:
                    await asyncio.sleep(0.001)
                    yield Ok(i)
                    i += 1
            finally:
                if self.slow_close:
                    await asyncio.sleep(0.001)  # an async close: it needs the loop
                self.closed += 1

        return _gen

    @contextlib.asynccontextmanager
    async def resource(self) -> AsyncIterator[None]:
        self.opened += 1
        try:
            yield None
        finally:
            if self.slow_close:
                await asyncio.sleep(0.001)
            self.closed += 1


Build = Callable[[Probe], AsyncGen[object]]

SEQUENTIAL: dict[str, Build] = {
    "map": lambda p: async_gen_map(p.source(), lambda x: x),
    "map_err": lambda p: async_gen_map_err(p.source(), lambda e: e),
    "map_action": lambda p: async_gen_map_action(p.source(), async_pure),
    "and_then": lambda p: async_gen_and_then(p.source(), lambda _: p.source()),
    "flatten": lambda p: async_gen_flatten(async_gen_map(p.source(), lambda x: [x, x])),
    "filter": lambda p: async_gen_filter(p.source(), lambda _: True),
    "tap": lambda p: async_gen_tap(p.source(), lambda _: None),
    "take": lambda p: async_gen_take(p.source(), 100),
    "drop_errors": lambda p: async_gen_drop_errors(p.source()),
    "take_until_err": lambda p: async_gen_take_until_err(p.source()),
    "rate_limited": lambda p: async_gen_rate_limited(p.source(), RateLimitPolicy(1000.0, 1)),
    "using": lambda p: async_gen_using(p.resource, lambda _: p.source()),
    "chunk_by_size": lambda p: async_gen_chunk(p.source(), ChunkPolicy(2, 0))(RealSleeper()),
}
WITH_TASKS: dict[str, Build] = {
    "bounded_map": lambda p: async_gen_bounded_map(p.source(), async_pure, BackpressurePolicy(3)),
    "bounded_map_unordered": lambda p: async_gen_bounded_map(
        p.source(), async_pure, BackpressurePolicy(3, ordered=False)
    ),
    "gather": lambda p: async_gen_gather([p.source(), p.source()], max_buffer=2),
    "fair_merge": lambda p: async_gen_fair_merge(
        [p.source(), p.source()], FairnessPolicy({1: 2}, max_buffer_per_stream=2)
    ),
    "chunk_with_age": lambda p: async_gen_chunk(p.source(), ChunkPolicy(3, 50))(RealSleeper()),
    "merge_of_bounded_maps": lambda p: async_gen_fair_merge(
        [WITH_TASKS["bounded_map"](p), async_gen_using(p.resource, lambda _: p.source())]
    ),
}
ALL = {**SEQUENTIAL, **WITH_TASKS}
CLOSER = "funcpipe.streams.close"


def others() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


@given(
    name=st.sampled_from(sorted(ALL)),
    take=st.integers(1, 4),
    slow_close=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_after_aclosing_everything_is_closed_and_no_task_is_left(
    name: str, take: int, slow_close: bool, seed: int
) -> None:
    probe = Probe(slow_close)
    stream = ALL[name](probe)

    async def main() -> None:
        async with contextlib.aclosing(stream()) as it:  # type: ignore[type-var]
            n = 0
            async for _ in it:
                n += 1
                if n == take:
                    break
        assert others() == set()  # no task of the stream, not even a closing one
        assert probe.opened > 0
        assert probe.closed == probe.opened  # every upstream and resource close has finished

    run_virtual(main, seed=seed)


@given(name=st.sampled_from(sorted(ALL)), slow_close=st.booleans(), seed=st.integers(0, 2**16))
def test_plain_break_closes_at_once_or_in_one_closing_task(
    name: str, slow_close: bool, seed: int
) -> None:
    probe = Probe(slow_close)
    stream = ALL[name](probe)

    async def main() -> None:
        async for _ in stream():
            break
        left = others()
        if name in SEQUENTIAL and not slow_close:  # nothing to wait for: all done already
            assert left == set()
            assert probe.closed == probe.opened > 0
        else:  # the rest runs in one closing task; the combinator's own tasks are cancelled
            closers = {t for t in left if t.get_name() == CLOSER}
            assert len(closers) == 1
            if name != "merge_of_bounded_maps":  # nested tasks are cancelled by their owner
                assert all(t.cancelling() > 0 for t in left - closers)
            await asyncio.wait(closers)
            assert others() == set()
            assert probe.closed == probe.opened > 0

    run_virtual(main, seed=seed)
