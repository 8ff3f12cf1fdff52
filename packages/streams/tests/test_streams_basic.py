"""Laws and rules of the sequential building blocks of funcpipe.streams."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TypeVar

import pytest
from funcpipe.async_plan import AsyncPlan, async_pure
from funcpipe.policies import (
    BackpressurePolicy,
    ChunkPolicy,
    FairnessPolicy,
    RateLimitPolicy,
    RealSleeper,
)
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import (
    AsyncGen,
    async_gen_and_then,
    async_gen_bounded_map,
    async_gen_chunk,
    async_gen_collect,
    async_gen_drop_errors,
    async_gen_fair_merge,
    async_gen_filter,
    async_gen_flat_map,
    async_gen_flatten,
    async_gen_from_list,
    async_gen_from_results,
    async_gen_gather,
    async_gen_map,
    async_gen_map_action,
    async_gen_map_err,
    async_gen_rate_limited,
    async_gen_return,
    async_gen_take,
    async_gen_take_until_err,
    async_gen_tap,
    async_gen_using,
    lift_async_item,
    lift_sync_gen_with_executor,
)
from funcpipe.testing import run_virtual
from hypothesis import given
from hypothesis import strategies as st

T = TypeVar("T")
Item = Result[int, ErrInfo]


def err(code: str = "BOOM", key: int = 0) -> Err[ErrInfo]:
    return Err(ErrInfo(code=code, msg="test", path=(key,)))


items_st = st.lists(
    st.one_of(
        st.integers(-1000, 1000).map(Ok),
        st.integers(0, 5).map(lambda k: err(f"E{k}", k)),
    ),
    max_size=30,
)


class Probe:
    """A source that records opens, items pulled, ``aclose`` calls and finished iterations."""

    def __init__(self, items: list[Item]) -> None:
        self.items = items
        self.opens = 0
        self.pulled = 0
        self.aclose_calls = 0
        self.finalised = 0

    def __call__(self) -> AsyncIterator[Item]:
        self.opens += 1

        async def _gen() -> AsyncIterator[Item]:
            try:
                for r in self.items:
                    self.pulled += 1
                    yield r
            finally:
                self.finalised += 1

        return _ProbeIter(_gen(), self)


class _ProbeIter:
    def __init__(self, agen: AsyncIterator[Item], probe: Probe) -> None:
        self._agen = agen
        self._probe = probe

    def __aiter__(self) -> _ProbeIter:
        return self

    async def __anext__(self) -> Item:
        return await self._agen.__anext__()

    async def aclose(self) -> None:
        self._probe.aclose_calls += 1
        await self._agen.aclose()  # type: ignore[attr-defined]


async def drain(gen: AsyncGen[T]) -> list[Result[T, ErrInfo]]:
    return [item async for item in gen()]


def run(gen: AsyncGen[T]) -> list[Result[T, ErrInfo]]:
    async def main() -> list[Result[T, ErrInfo]]:
        return await drain(gen)

    return run_virtual(main)


def oks(xs: list[int]) -> list[Item]:
    return [Ok(x) for x in xs]


# ---------------------------------------------------------------- functor and monad laws


@given(items_st)
def test_map_identity_and_composition(items: list[Item]) -> None:
    src = async_gen_from_results(items)
    assert run(async_gen_map(src, lambda x: x)) == items

    def f(x: int) -> int:
        return x * 3

    def h(x: int) -> int:
        return x - 7

    assert run(async_gen_map(async_gen_map(src, f), h)) == run(
        async_gen_map(src, lambda x: h(f(x)))
    )


@given(items_st)
def test_fused_map_chain_behaves_like_separate_stages(items: list[Item]) -> None:
    log: list[str] = []

    def f(x: int) -> int:
        log.append(f"f{x}")
        if x % 5 == 0:
            raise ValueError("f fails")
        return x + 1

    def h(x: int) -> int:
        log.append(f"h{x}")
        if x % 7 == 0:
            raise ValueError("h fails")
        return x * 2

    src = async_gen_from_results(items)
    fused = run(async_gen_map(async_gen_map(src, f), h))
    fused_log = list(log)
    log.clear()
    # a tap in between keeps the two maps as separate stages
    separate = run(async_gen_map(async_gen_tap(async_gen_map(src, f), lambda _: None), h))
    assert fused == separate
    assert fused_log == log


@given(items_st, st.integers(0, 3))
def test_monad_laws_with_errs(items: list[Item], fan: int) -> None:
    src = async_gen_from_results(items)

    def f(x: int) -> AsyncGen[int]:
        return async_gen_from_results(
            [Ok(x + i) if i % 2 == 0 else err("F", x) for i in range(fan)]
        )

    def g(x: int) -> AsyncGen[int]:
        return async_gen_from_list([x, -x])

    # left identity, right identity, associativity (Errs included: they pass through in place)
    for x in (0, 5):
        assert run(async_gen_and_then(async_gen_return(x), f)) == run(f(x))
    assert run(async_gen_and_then(src, async_gen_return)) == items
    a = async_gen_and_then(async_gen_and_then(src, f), g)
    b = async_gen_and_then(src, lambda x: async_gen_and_then(f(x), g))
    assert run(a) == run(b)
    assert run(async_gen_flat_map(src, f)) == run(async_gen_and_then(src, f))


# ------------------------------------------------------------- per-item errors, in place


@given(items_st)
def test_err_items_pass_in_place_without_calling_user_code(items: list[Item]) -> None:
    calls: list[int] = []

    def spy(x: int) -> int:
        calls.append(x)
        return x + 1

    n_ok = sum(1 for r in items if isinstance(r, Ok))
    src = async_gen_from_results(items)
    expected_map = [r.map(lambda x: x + 1) for r in items]
    assert run(async_gen_map(src, spy)) == expected_map
    assert len(calls) == n_ok
    calls.clear()
    assert run(async_gen_map_action(src, lambda x: async_pure(spy(x)))) == expected_map
    assert len(calls) == n_ok
    calls.clear()
    assert run(async_gen_and_then(src, lambda x: async_gen_return(spy(x)))) == expected_map
    assert len(calls) == n_ok
    calls.clear()
    kept = run(async_gen_filter(src, lambda x: spy(x) % 2 == 0))
    assert kept == [r for r in items if not isinstance(r, Ok) or (r.value + 1) % 2 == 0]
    assert len(calls) == n_ok
    calls.clear()
    assert run(async_gen_tap(src, spy)) == items
    assert calls == [r.value for r in items if isinstance(r, Ok)]


def test_exception_in_user_function_becomes_err_for_that_item_only() -> None:
    def f(x: int) -> int:
        if x == 2:
            raise ValueError("two")
        return x * 10

    out = run(async_gen_map(async_gen_from_list([1, 2, 3]), f))
    assert out[0] == Ok(10)
    assert out[2] == Ok(30)
    assert isinstance(out[1], Err)
    assert out[1].error.code == codes.UNEXPECTED
    assert out[1].error.stage == "async_gen_map"

    def plan(x: int) -> AsyncPlan[int]:
        async def _p() -> Result[int, ErrInfo]:
            raise RuntimeError("boom")

        return _p

    out2 = run(async_gen_map_action(async_gen_from_list([1, 2]), plan))
    assert [r.error.code for r in out2 if isinstance(r, Err)] == [codes.UNEXPECTED] * 2


def test_map_err_changes_only_errs() -> None:
    src: AsyncGen[int] = async_gen_from_results([Ok(1), err("A"), Ok(2)])
    out = run(async_gen_map_err(src, lambda e: e.with_stage("here")))
    assert out[0] == Ok(1)
    assert out[2] == Ok(2)
    assert isinstance(out[1], Err)
    assert out[1].error.stage == "here"


@given(st.lists(st.lists(st.integers(), max_size=4), max_size=8))
def test_flatten_concatenates_and_keeps_results(batches: list[list[int]]) -> None:
    out = run(async_gen_flatten(async_gen_from_list(batches)))
    assert out == [Ok(x) for b in batches for x in b]
    nested: list[list[Item]] = [[Ok(x) if x % 3 else err("X", x) for x in b] for b in batches]
    out2 = run(async_gen_flatten(async_gen_from_list(nested)))
    assert out2 == [r for b in nested for r in b]
    with_err: AsyncGen[list[int]] = async_gen_from_results([Ok([1, 2]), err("OUTER"), Ok([3])])
    assert run(async_gen_flatten(with_err)) == [Ok(1), Ok(2), err("OUTER"), Ok(3)]


@given(items_st, st.integers(0, 35))
def test_take_is_the_prefix_and_closes_upstream(items: list[Item], n: int) -> None:
    probe = Probe(items)
    assert run(async_gen_take(probe, n)) == items[:n]
    assert probe.pulled == min(n, len(items))
    assert probe.opens == (1 if n > 0 else 0)
    assert probe.aclose_calls == probe.opens
    assert probe.finalised == probe.opens


def test_take_rejects_negative() -> None:
    with pytest.raises(ValueError, match="n must be an int"):
        async_gen_take(async_gen_return(1), -1)


@given(items_st)
def test_collect_returns_every_item(items: list[Item]) -> None:
    async def main() -> Result[list[Item], ErrInfo]:
        return await async_gen_collect(async_gen_from_results(items))()

    assert run_virtual(main) == Ok(items)


# ------------------------------------------------------------------------ error policies


def _until_err(items: list[Item]) -> list[Item]:
    """The shortest prefix ending with an Err (all of ``items`` if there is none)."""
    for i, r in enumerate(items):
        if isinstance(r, Err):
            return items[: i + 1]
    return items


@given(items_st)
def test_drop_errors_keeps_the_ok_items_in_order(items: list[Item]) -> None:
    probe = Probe(items)
    assert run(async_gen_drop_errors(probe)) == [r for r in items if isinstance(r, Ok)]
    assert probe.pulled == len(items)
    assert (probe.opens, probe.aclose_calls, probe.finalised) == (1, 1, 1)


@given(items_st)
def test_take_until_err_is_the_prefix_and_closes_before_the_err(items: list[Item]) -> None:
    probe = Probe(items)
    seen: list[tuple[Item, int]] = []  # each item, with the upstream's close count on arrival

    async def main() -> None:
        async for item in async_gen_take_until_err(probe)():
            seen.append((item, probe.finalised))

    run_virtual(main)
    expected = _until_err(items)
    assert [r for r, _ in seen] == expected
    assert probe.pulled == len(expected)
    stopped = bool(expected) and isinstance(expected[-1], Err)
    # Prompt: the upstream was already closed when the Err arrived, and not a moment earlier.
    assert [closed for _, closed in seen] == [0] * (len(expected) - stopped) + [1] * stopped
    assert (probe.opens, probe.aclose_calls, probe.finalised) == (1, 1, 1)


@given(items_st)
def test_error_policy_laws(items: list[Item]) -> None:
    src = async_gen_from_results(items)
    drop, until = async_gen_drop_errors, async_gen_take_until_err

    def f(x: int) -> int:
        return 2 * x + 1

    assert run(drop(drop(src))) == run(drop(src))  # idempotent
    assert run(until(until(src))) == run(until(src))
    assert run(drop(async_gen_map(src, f))) == run(async_gen_map(drop(src), f))  # commute
    assert run(until(async_gen_map(src, f))) == run(async_gen_map(until(src), f))
    assert run(drop(until(src))) == list(itertools.takewhile(lambda r: r.is_ok(), items))
    assert run(until(drop(src))) == run(drop(src))  # no Err left to stop at


@given(st.lists(st.integers(0, 20), min_size=1, max_size=20), st.integers(1, 4), st.booleans())
def test_take_until_err_stops_work_in_flight_before_the_err_is_emitted(
    xs: list[int], limit: int, ordered: bool
) -> None:
    started: list[int] = []

    def plan(x: int) -> AsyncPlan[int]:
        async def _p() -> Result[int, ErrInfo]:
            started.append(x)
            await asyncio.sleep(0.001 * (x % 3 + 1))
            return err("F", x) if x % 5 == 0 else Ok(x)

        return _p

    policy = BackpressurePolicy(max_concurrent=limit, ordered=ordered)
    stream = async_gen_take_until_err(async_gen_bounded_map(async_gen_from_list(xs), plan, policy))

    async def main() -> list[Item]:
        out: list[Item] = []
        async for item in stream():
            out.append(item)
            if isinstance(item, Err):
                assert asyncio.all_tasks() == {asyncio.current_task()}  # in-flight plans gone
                n = len(started)
                await asyncio.sleep(1.0)
                assert len(started) == n  # and nothing new starts
        return out

    out = run_virtual(main)
    if ordered:
        assert out == _until_err([err("F", x) if x % 5 == 0 else Ok(x) for x in xs])
    assert all(isinstance(r, Ok) for r in out[:-1])
    assert isinstance(out[-1], Err) == any(x % 5 == 0 for x in xs)


# -------------------------------------------------------------- purity and replayability


@asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield None


Builder = Callable[[AsyncGen[int]], AsyncGen[object]]

BUILDERS: dict[str, Builder] = {
    "map": lambda g: async_gen_map(g, lambda x: x + 1),
    "map_err": lambda g: async_gen_map_err(g, lambda e: e),
    "map_action": lambda g: async_gen_map_action(g, lambda x: async_pure(x)),
    "and_then": lambda g: async_gen_and_then(g, lambda x: async_gen_from_list([x, x])),
    "flatten": lambda g: async_gen_flatten(async_gen_map(g, lambda x: [x, x])),
    "filter": lambda g: async_gen_filter(g, lambda x: x % 2 == 0),
    "tap": lambda g: async_gen_tap(g, lambda x: None),
    "take": lambda g: async_gen_take(g, 1000),
    "using": lambda g: async_gen_using(_nothing, lambda _: g),
    "drop_errors": lambda g: async_gen_drop_errors(g),
    "take_until_err": lambda g: async_gen_take_until_err(g),
}

# Combinators that run tasks; their cleanup awaits those tasks, so it is prompt when awaited
# (aclose) and finishes in a cleanup task after a break.
CONCURRENT: dict[str, Builder] = {
    "bounded_map": lambda g: async_gen_bounded_map(
        g, lambda x: async_pure(x), BackpressurePolicy(max_concurrent=3)
    ),
    "bounded_map_unordered": lambda g: async_gen_bounded_map(
        g, lambda x: async_pure(x), BackpressurePolicy(max_concurrent=3, ordered=False)
    ),
    "gather": lambda g: async_gen_gather([g, async_gen_from_list([-1])], max_buffer=2),
    "fair_merge": lambda g: async_gen_fair_merge(
        [g, async_gen_from_list([-1])], FairnessPolicy(max_buffer_per_stream=2)
    ),
    "chunk": lambda g: async_gen_chunk(g, ChunkPolicy(max_units=3, max_delay_ms=10))(RealSleeper()),
    "rate_limited": lambda g: async_gen_rate_limited(g, RateLimitPolicy(100.0, 2)),
}
ALL = {**BUILDERS, **CONCURRENT}


@pytest.mark.parametrize("name", sorted(ALL))
def test_building_and_calling_the_thunk_do_nothing(name: str) -> None:
    probe = Probe(oks([1, 2, 3]))
    stream = ALL[name](probe)
    assert probe.opens == 0

    async def main() -> None:
        it = stream()  # a fresh iterator, not started yet
        await asyncio.sleep(0)
        assert probe.opens == probe.pulled == 0
        assert asyncio.all_tasks() == {asyncio.current_task()}  # no task before iterating
        del it

    run_virtual(main)
    assert probe.pulled == 0


@pytest.mark.parametrize("name", sorted(ALL))
def test_each_call_is_a_fresh_iteration(name: str) -> None:
    probe = Probe(oks([1, 2, 3, 4]))
    stream = ALL[name](probe)

    async def main() -> tuple[list[Result[object, ErrInfo]], list[Result[object, ErrInfo]]]:
        a, b = stream(), stream()
        first = [await a.__anext__()]  # interleave two iterations
        second = [x async for x in b]
        first += [x async for x in a]
        return first, second

    first, second = run_virtual(main)
    if name == "gather":  # arrival order depends on the interleaving; the items do not
        assert sorted(map(repr, first)) == sorted(map(repr, second))
    else:
        assert first == second
    assert len(first) > 0
    assert probe.opens == 2
    assert probe.finalised == 2


# ------------------------------------------------------------------- early exit cleanup

EXITS = ["break", "aclose", "raise", "cancel"]


async def _consume_then_exit(stream: AsyncGen[object], how: str) -> None:
    if how == "break":
        async for _ in stream():
            break
    elif how == "aclose":
        it = stream()
        await it.__anext__()
        await it.aclose()  # type: ignore[attr-defined]
    elif how == "raise":
        try:
            async for _ in stream():
                raise KeyError("downstream")
        except KeyError:
            pass
        else:
            raise AssertionError("the exception did not propagate")
    else:
        started = asyncio.Event()

        async def consumer() -> None:
            async for _ in stream():
                started.set()
                await asyncio.sleep(3600)

        task = asyncio.get_running_loop().create_task(consumer())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize("how", EXITS)
def test_early_exit_closes_upstream_exactly_once(name: str, how: str) -> None:
    probe = Probe(oks(list(range(10))))
    stream = ALL[name](probe)
    released: list[int] = []

    async def main() -> None:
        await _consume_then_exit(stream, how)
        released.append(probe.finalised)
        await asyncio.sleep(0.001)
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run_virtual(main)
    if name in BUILDERS or how == "aclose":
        assert released == [1]  # prompt: closed before the next statement ran
    assert probe.finalised == 1
    assert probe.opens == 1
    assert probe.aclose_calls == 1
    assert probe.pulled < 10


def test_inner_stream_of_and_then_is_closed_on_early_exit() -> None:
    inner = Probe(oks([7, 8, 9]))
    outer = Probe(oks([1, 2]))

    async def main() -> None:
        async for _ in async_gen_and_then(outer, lambda _: inner)():
            break

    run_virtual(main)
    assert (inner.aclose_calls, inner.finalised) == (1, 1)
    assert (outer.aclose_calls, outer.finalised) == (1, 1)


# -------------------------------------------------------------------------- resources


class Resource:
    def __init__(self, fail_enter: bool = False, slow_exit: bool = False) -> None:
        self.entered = 0
        self.exited = 0
        self.fail_enter = fail_enter
        self.slow_exit = slow_exit

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[str]:
        if self.fail_enter:
            raise OSError("cannot open")
        self.entered += 1
        try:
            yield "handle"
        finally:
            if self.slow_exit:
                await asyncio.sleep(1.0)
            self.exited += 1


@pytest.mark.parametrize("how", [*EXITS, "end"])
def test_using_releases_on_every_exit(how: str) -> None:
    res = Resource()
    probe = Probe(oks([1, 2, 3]))
    stream = async_gen_using(res, lambda h: async_gen_map(probe, lambda x: (h, x)))

    async def main() -> None:
        if how == "end":
            assert [r.unwrap() async for r in stream()] == [
                ("handle", 1),
                ("handle", 2),
                ("handle", 3),
            ]
        else:
            await _consume_then_exit(stream, how)
        assert (res.entered, res.exited) == (1, 1)
        assert probe.finalised == 1

    run_virtual(main)


def test_using_acquisition_failure_is_one_err_item() -> None:
    res = Resource(fail_enter=True)
    out = run(async_gen_using(res, lambda _: async_gen_return(1)))
    assert len(out) == 1
    assert isinstance(out[0], Err)
    assert out[0].error.code == codes.UNEXPECTED
    assert res.exited == 0


def test_cleanup_that_waits_finishes_in_the_background_after_break() -> None:
    res = Resource(slow_exit=True)
    stream = async_gen_using(res, lambda _: async_gen_from_list([1, 2]))

    async def main() -> None:
        async for _ in stream():
            break
        assert res.exited == 0  # the exit sleeps: it goes on in a cleanup task
        await asyncio.sleep(2.0)
        assert res.exited == 1
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run_virtual(main)


# -------------------------------------------------------------------------------- lifts


def test_lift_async_item() -> None:
    async def fn(x: int) -> Result[int, ErrInfo]:
        if x < 0:
            raise ValueError("negative")
        return Ok(x * 2)

    lifted = lift_async_item(fn)
    out = run(async_gen_and_then(async_gen_from_list([1, -1, 2]), lifted))
    assert out[0] == Ok(2)
    assert out[2] == Ok(4)
    assert isinstance(out[1], Err)


def test_lift_sync_gen_with_executor_is_lazy_and_closes() -> None:
    log: list[str] = []

    def chunks(n: int, prefix: str) -> Iterator[str]:
        try:
            for i in range(n):
                log.append(f"make {i}")
                yield f"{prefix}{i}"
        finally:
            log.append("closed")

    with ThreadPoolExecutor(max_workers=2) as ex:
        lifted = lift_sync_gen_with_executor(chunks, ex)
        stream = lifted(5, prefix="c")
        assert log == []
        assert run(stream) == [Ok(f"c{i}") for i in range(5)]
        assert log[-1] == "closed"
        log.clear()

        async def main() -> None:
            it = stream()
            assert await it.__anext__() == Ok("c0")
            await it.aclose()  # type: ignore[attr-defined]
            assert log == ["make 0", "closed"]  # never ran ahead; closed when aclose returns
            log.clear()
            async for _ in stream():
                break
            # the close waits for a worker thread, so it finishes in a cleanup task
            await asyncio.sleep(0.01)
            assert log == ["make 0", "closed"]
            assert asyncio.all_tasks() == {asyncio.current_task()}

        run_virtual(main)

        def broken() -> Iterator[int]:
            yield 1
            raise ValueError("bad")

        out = run(lift_sync_gen_with_executor(broken, ex)())
        assert out[0] == Ok(1)
        assert isinstance(out[1], Err)
        assert len(out) == 2
