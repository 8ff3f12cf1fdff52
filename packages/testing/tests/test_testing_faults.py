"""Fault schedules as data, their strategies, and the fake ports that obey them."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from funcpipe.async_plan import async_with_resilience
from funcpipe.policies import ResilienceEnv, RetryPolicy, SystemClock, TimeoutPolicy
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.testing import (
    FAULT_KINDS,
    OK,
    DeadlockError,
    FakeDocumentSource,
    FakeEmbedder,
    FakeVectorStore,
    FaultSchedule,
    InjectedFault,
    Outcome,
    StoredPoint,
    fake_vector,
    fault_schedules,
    outcomes,
    run_virtual,
)
from hypothesis import given, settings
from hypothesis import strategies as st

RETRY = RetryPolicy(max_attempts=3, backoff_base_ms=100, jitter_factor=0.0)
TIMEOUT = TimeoutPolicy(timeout_ms=1_000)


def _env() -> ResilienceEnv:
    import random

    return ResilienceEnv(rng=random.Random(0), sleep=asyncio.sleep, clock=SystemClock())


# -- Outcome and FaultSchedule ------------------------------------------------------------


def test_outcome_validates() -> None:
    with pytest.raises(ValueError, match="kind"):
        Outcome("boom")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="latency_ms"):
        Outcome("ok", -1)
    with pytest.raises(ValueError, match="latency_ms"):
        Outcome("ok", 1.5)  # type: ignore[arg-type]


def test_worst_outcome_combines_kind_and_latency() -> None:
    assert Outcome("transient", 5).worst(Outcome("hang", 1)) == Outcome("hang", 5)
    assert Outcome("exception").worst(Outcome("timeout", 9)) == Outcome("exception", 9)
    assert OK.worst(OK) == OK
    assert not OK.is_fault
    assert Outcome("ok", 1).is_fault


def test_schedule_lookup_by_key_and_attempt() -> None:
    schedule = FaultSchedule({"a": ["transient", Outcome("ok", 30)], "b": ["hang"]})
    assert schedule.outcome("a", 1) == Outcome("transient")
    assert schedule.outcome("a", 2) == Outcome("ok", 30)
    assert schedule.outcome("a", 3) == OK
    assert schedule.outcome("zzz", 1) == OK
    assert schedule.keys() == {"a", "b"}
    assert schedule.kinds() == Counter({"transient": 1, "ok": 1, "hang": 1, "latency": 1})
    with pytest.raises(ValueError, match="from 1"):
        schedule.outcome("a", 0)


def test_schedules_are_hashable_values() -> None:
    a = FaultSchedule({"k": ["transient"]})
    b = FaultSchedule({"k": [Outcome("transient")]})
    assert a == b
    assert hash(a) == hash(b)
    assert a != FaultSchedule({"k": ["timeout"]})


@settings(max_examples=50)
@given(schedule=fault_schedules(["a", "b", "c"], max_attempts=4))
def test_drawn_schedules_plan_only_the_given_keys(schedule: FaultSchedule) -> None:
    assert schedule.keys() == {"a", "b", "c"}
    for key, attempt, outcome in schedule.planned():
        assert 1 <= attempt <= 4
        assert schedule.outcome(key, attempt) == outcome
        assert outcome.kind in FAULT_KINDS


@settings(max_examples=30)
@given(schedule=fault_schedules(st.lists(st.text(min_size=1), max_size=5, unique=True)))
def test_keys_may_come_from_a_strategy(schedule: FaultSchedule) -> None:
    assert len(schedule.keys()) <= 5


def test_outcome_strategy_needs_kinds() -> None:
    with pytest.raises(ValueError, match="kinds"):
        outcomes(())


# -- FakeEmbedder -------------------------------------------------------------------------


def test_embedder_obeys_the_schedule_per_attempt() -> None:
    embedder = FakeEmbedder(FaultSchedule({"x": ["transient", "timeout"]}))
    plan = embedder.embed_batch(["hello"], ["x"])

    async def main() -> list[Result[list[tuple[float, ...]], ErrInfo]]:
        return [await plan() for _ in range(3)]

    first, second, third = run_virtual(main)
    assert isinstance(first, Err)
    assert first.error.code == codes.TRANSIENT
    assert first.error.path == ("x",)
    assert isinstance(second, Err)
    assert second.error.code == codes.TIMEOUT
    assert third == Ok([fake_vector("hello", 8)])
    assert embedder.attempts == Counter({"x": 3})
    assert embedder.attempt_trace() == [("x", "transient"), ("x", "timeout"), ("x", "ok")]
    assert [r.ended for r in embedder.log] == ["err", "err", "ok"]


def test_a_batch_fails_as_a_whole_with_its_worst_outcome() -> None:
    embedder = FakeEmbedder(FaultSchedule({"b": ["transient"], "c": [Outcome("ok", 50)]}))
    plan = embedder.embed_batch(["ta", "tb", "tc"], ["a", "b", "c"])

    async def main() -> tuple[Result[list[tuple[float, ...]], ErrInfo], float]:
        res = await plan()
        return res, asyncio.get_running_loop().time()

    res, now = run_virtual(main)
    assert isinstance(res, Err)
    assert res.error.path == ("b",)
    assert now == pytest.approx(0.05)  # the call took the longest latency of its keys
    assert embedder.attempts == Counter({"a": 1, "b": 1, "c": 1})
    assert embedder.calls == [("a", "b", "c")]


def test_embedder_exception_and_resilience() -> None:
    embedder = FakeEmbedder(FaultSchedule({"k": ["exception"]}))
    plan = async_with_resilience(embedder.embed_one("t", "k"), RETRY, TIMEOUT, _env())
    res = run_virtual(plan)
    assert isinstance(res, Err)
    assert res.error.code == codes.UNEXPECTED  # an exception is not retried
    assert isinstance(res.error.cause, InjectedFault)
    assert embedder.attempts["k"] == 1

    async def bare() -> object:
        return await embedder.embed_one("t", "k")()

    embedder.reset_schedule()
    with pytest.raises(InjectedFault, match="'k'"):
        run_virtual(bare)


def test_hang_becomes_timeout_under_a_timeout_policy() -> None:
    embedder = FakeEmbedder(FaultSchedule({"k": ["hang", "hang", Outcome("ok", 999)]}))
    plan = async_with_resilience(embedder.embed_one("t", "k"), RETRY, TIMEOUT, _env())

    async def main() -> tuple[Result[tuple[float, ...], ErrInfo], float]:
        res = await plan()
        return res, asyncio.get_running_loop().time()

    res, now = run_virtual(main)
    assert res == Ok(fake_vector("t", 8))
    # two 1 s timeouts, backoff 0.1 s + 0.2 s, then 0.999 s of latency
    assert now == pytest.approx(1 + 0.1 + 1 + 0.2 + 0.999)
    assert [r.ended for r in embedder.log] == ["cancelled", "cancelled", "ok"]
    assert embedder.hanging == 0
    assert embedder.in_flight == 0


def test_latency_past_the_timeout_is_a_timeout() -> None:
    embedder = FakeEmbedder(FaultSchedule({"k": [Outcome("ok", 1_500)] * 3}))
    res = run_virtual(async_with_resilience(embedder.embed_one("t", "k"), RETRY, TIMEOUT, _env()))
    assert isinstance(res, Err)
    assert res.error.code == codes.MAX_RETRIES
    assert res.error.ctx["last_error"] == ErrInfo(
        codes.TIMEOUT, "attempt exceeded 1000 ms", ctx={"timeout_ms": 1000}
    )


def test_a_hang_without_a_timeout_is_a_deadlock_not_a_hang() -> None:
    embedder = FakeEmbedder(FaultSchedule({"k": ["hang"]}))
    with pytest.raises(DeadlockError):
        run_virtual(embedder.embed_one("t", "k"))


def test_embedder_validates_and_handles_empty_batches() -> None:
    embedder = FakeEmbedder()
    with pytest.raises(ValueError, match="2 texts but 1 keys"):
        embedder.embed_batch(["a", "b"], ["k"])
    with pytest.raises(ValueError, match="dim"):
        FakeEmbedder(dim=0)
    assert run_virtual(embedder.embed_batch([])) == Ok([])
    assert embedder.calls == []


def test_concurrency_is_recorded() -> None:
    embedder = FakeEmbedder(FaultSchedule({k: [Outcome("ok", 10)] for k in "abcd"}))

    async def main() -> None:
        await asyncio.gather(*(embedder.embed_one(k, k)() for k in "abcd"))

    run_virtual(main, seed=1)
    assert embedder.max_in_flight == 4
    assert embedder.in_flight == 0


# -- FakeVectorStore ----------------------------------------------------------------------


def test_upsert_replaces_by_id() -> None:
    store = FakeVectorStore()

    async def main() -> None:
        async with store.connect() as conn:
            assert store.open_connections == 1
            assert await conn.upsert("a", [1.0], {"v": 1})() == Ok("a")
            assert await conn.upsert("a", [2.0], {"v": 2})() == Ok("a")
            assert await conn.upsert("b", [3.0])() == Ok("b")
            assert await conn.delete("b")() == Ok(True)
            assert await conn.delete("b")() == Ok(False)

    run_virtual(main)
    assert store.snapshot() == {"a": StoredPoint((2.0,), {"v": 2})}
    assert store.writes == 3
    assert store.open_connections == 0
    assert store.connections_opened == 1


def test_timeout_on_write_applies_it_and_loses_the_ack() -> None:
    store = FakeVectorStore(FaultSchedule({"a": ["timeout"], "b": ["transient"]}))

    async def main() -> list[Result[str, ErrInfo]]:
        return [await store.upsert_one("a", [1.0])(), await store.upsert_one("b", [1.0])()]

    a, b = run_virtual(main)
    assert isinstance(a, Err)
    assert a.error.code == codes.TIMEOUT
    assert isinstance(b, Err)
    assert set(store.snapshot()) == {"a"}  # written despite the error; "b" not written


def test_cancelled_write_leaves_nothing_and_closes_its_connection() -> None:
    store = FakeVectorStore(FaultSchedule({"a": [Outcome("ok", 5_000)]}))

    async def main() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1):
                await store.upsert_one("a", [1.0])()

    run_virtual(main)
    assert store.snapshot() == {}
    assert store.open_connections == 0
    assert store.log[0].ended == "cancelled"


def test_closed_connection_refuses_work() -> None:
    store = FakeVectorStore()

    async def main() -> Result[str, ErrInfo]:
        async with store.connect() as conn:
            pass
        return await conn.upsert("a", [1.0])()

    res = run_virtual(main)
    assert isinstance(res, Err)
    assert res.error.code == codes.DB_ERROR


def test_store_reset_and_snapshot_isolation() -> None:
    store = FakeVectorStore(FaultSchedule({"a": ["transient"]}))
    run_virtual(store.upsert_one("a", [1.0]))
    run_virtual(store.upsert_one("a", [1.0]))
    snap = store.snapshot()
    assert set(snap) == {"a"}
    store.reset()
    assert store.snapshot() == {}
    assert set(snap) == {"a"}  # a snapshot is a copy
    assert store.attempts == Counter()
    assert isinstance(run_virtual(store.upsert_one("a", [1.0])), Err)  # the schedule replays


# -- FakeDocumentSource -------------------------------------------------------------------


def test_source_yields_docs_and_per_item_errors() -> None:
    source = FakeDocumentSource(
        ["d1", "d2", "d3"], schedule=FaultSchedule({"d2": ["transient"], "d3": ["exception"]})
    )

    async def main() -> list[Result[str, ErrInfo]]:
        return [item async for item in source()]

    items = run_virtual(main)
    assert items[0] == Ok("d1")
    assert isinstance(items[1], Err)
    assert items[1].error.path == ("d2",)
    assert isinstance(items[2], Err)
    assert items[2].error.code == codes.UNEXPECTED
    assert source.open_iterations == 0
    assert source.yielded == 3


def test_source_iteration_is_accounted_on_break_and_close() -> None:
    source = FakeDocumentSource(list(range(10)), key=str)

    async def main() -> tuple[int, int]:
        it = source()
        first = await anext(it)
        during = source.open_iterations
        await it.aclose()  # type: ignore[attr-defined]
        assert first == Ok(0)
        return during, source.open_iterations

    assert run_virtual(main) == (1, 0)
    assert source.iterations == 1


def test_source_is_replayable() -> None:
    source = FakeDocumentSource(["a", "b"])

    async def main() -> list[list[Result[str, ErrInfo]]]:
        return [[i async for i in source()] for _ in range(2)]

    first, second = run_virtual(main)
    assert first == second == [Ok("a"), Ok("b")]
    source.reset()
    assert source.iterations == 0


# -- strategies: grids, defaults; records carry virtual times -----------------------------


@settings(max_examples=50)
@given(
    schedule=fault_schedules(
        ["a", "b"], latencies=(100, 400), default=st.sampled_from([OK, Outcome("ok", 50)])
    )
)
def test_latency_grid_and_default_outcome(schedule: FaultSchedule) -> None:
    assert schedule.default in (OK, Outcome("ok", 50))
    for _, _, outcome in schedule.planned():
        assert outcome.latency_ms in (0, 100, 400)
    assert schedule.outcome("a", 99) == schedule.default


def test_strategy_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="latencies"):
        outcomes(latencies=())
    with pytest.raises(ValueError, match="latencies"):
        outcomes(latencies=(-1,))
    with pytest.raises(ValueError, match="max_attempts"):
        fault_schedules(["a"], max_attempts=-1)
    with pytest.raises(ValueError, match="kinds"):
        fault_schedules(["a"], kinds=())


def test_attempt_records_carry_virtual_times() -> None:
    embedder = FakeEmbedder(FaultSchedule({"k": [Outcome("ok", 250)]}))

    async def main() -> None:
        await asyncio.sleep(10)
        await embedder.embed_one("t", "k")()

    run_virtual(main)
    (record,) = embedder.log
    assert record.started_at == 10.0
    assert record.ended_at == pytest.approx(10.25)
    assert record.ended == "ok"


def test_custom_fake_ports_build_on_enact() -> None:
    from funcpipe.testing import FaultPort

    class FakeCache(FaultPort):
        port = "cache"

        def __init__(self, schedule: FaultSchedule) -> None:
            super().__init__(schedule)
            self.data: dict[str, str] = {}

        async def put(self, key: str, value: str) -> Result[str, ErrInfo]:
            return await self.enact([key], lambda: self.data.setdefault(key, value))

    cache = FakeCache(FaultSchedule({"x": ["transient"]}))

    async def main() -> list[Result[str, ErrInfo]]:
        return [await cache.put("x", "1"), await cache.put("x", "1")]

    first, second = run_virtual(main)
    assert isinstance(first, Err)
    assert first.error.stage == "cache"
    assert second == Ok("1")
    assert cache.attempt_trace() == [("x", "transient"), ("x", "ok")]
