"""Retry budgets and circuit breakers in async_with_resilience, under virtual time.

Many items share one budget / breaker and run concurrently against a fake port obeying a
drawn fault schedule; the laws are checked on what the port saw.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

import pytest
from funcpipe.async_plan import (
    AsyncPlan,
    SharedCircuitBreaker,
    SharedRetryBudget,
    async_map,
    async_with_resilience,
    resilient_mapper,
)
from funcpipe.policies import CircuitBreaker, RetryBudget, RetryPolicy, TimeoutPolicy
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from hypothesis import given
from hypothesis import strategies as st

try:
    from funcpipe.testing import (
        FakeEmbedder,
        FaultSchedule,
        Outcome,
        assert_at_most_once_success,
        assert_no_duplication,
        assert_no_loss,
        fault_schedules,
        interleaving_seeds,
        key_for_result,
        make_test_resilience_env,
        run_virtual,
    )
except ImportError:  # funcpipe-async-plan installed alone: funcpipe-testing is not there
    pytest.skip("needs funcpipe-testing", allow_module_level=True)

R = Result[str, ErrInfo]
KEYS = [f"k{i}" for i in range(24)]
RETRY = RetryPolicy(max_attempts=4, backoff_base_ms=50, max_backoff_ms=400, jitter_factor=0.5)
schedules = fault_schedules(
    KEYS, max_attempts=5, kinds=("ok", "transient", "timeout"), latencies=[0, 40, 300]
)
budgets = st.builds(
    RetryBudget,
    ratio=st.sampled_from([0.0, 0.1, 0.5]),
    min_per_s=st.sampled_from([0.0, 0.5, 2.0]),
    window_s=st.sampled_from([0.5, 5.0]),
)
breakers = st.builds(
    CircuitBreaker,
    failure_threshold=st.integers(1, 4),
    window_s=st.sampled_from([0.2, 5.0]),
    reset_timeout_s=st.sampled_from([0.0, 0.1, 1.0]),
    half_open_probes=st.integers(1, 3),
)


@dataclass
class Run:
    results: list[R]
    elapsed: float
    port: FakeEmbedder


def run_items(
    schedule: FaultSchedule,
    concurrency: int,
    seed: int,
    *,
    budget: SharedRetryBudget | None = None,
    breaker: SharedCircuitBreaker | None = None,
    before_call: list[int] | None = None,
) -> Run:
    port = FakeEmbedder(schedule)
    env = make_test_resilience_env(seed=seed)

    def embed(k: str) -> AsyncPlan[str]:
        return async_map(port.embed_one(k, key=k), lambda _v: k)

    mapper = resilient_mapper(embed, RETRY, TimeoutPolicy(200), env, budget=budget, breaker=breaker)
    gate = asyncio.Semaphore(concurrency)

    async def one(k: str) -> R:
        async with gate:
            return await mapper(k)()

    async def main() -> tuple[list[R], float]:
        t0 = asyncio.get_running_loop().time()
        out = list(await asyncio.gather(*(one(k) for k in KEYS)))
        return out, asyncio.get_running_loop().time() - t0

    results, elapsed = run_virtual(main, seed=seed)
    return Run(results, elapsed, port)


def check_pipeline_laws(run: Run) -> None:
    assert_no_duplication(run.results)
    assert_at_most_once_success(run.results)
    assert_no_loss(run.results, KEYS)
    assert [key_for_result(r) for r in run.results] == KEYS


@given(schedules, budgets, st.integers(1, 8), interleaving_seeds())
def test_retries_sent_are_bounded_by_the_budget(
    schedule: FaultSchedule, policy: RetryBudget, concurrency: int, seed: int
) -> None:
    budget = SharedRetryBudget(policy)
    run = run_items(schedule, concurrency, seed, budget=budget)
    check_pipeline_laws(run)
    sent = len(run.port.log)
    retries = sent - len(KEYS)
    successes = sum(r.ended == "ok" for r in run.port.log)
    assert retries == budget.granted
    bound = policy.ratio * successes + policy.min_per_s * (run.elapsed + policy.window_s)
    assert retries <= bound + 1e-6
    refused = [r for r in run.results if isinstance(r, Err) and r.error.code == codes.RETRY_BUDGET]
    assert len(refused) == budget.refused
    for r in refused:
        assert r.error.ctx["attempts"] == run.port.attempts[str(r.error.path[0])]


@given(schedules, breakers, st.integers(1, 8), interleaving_seeds())
def test_half_open_lets_at_most_the_probe_count_through(
    schedule: FaultSchedule, policy: CircuitBreaker, concurrency: int, seed: int
) -> None:
    breaker = SharedCircuitBreaker(policy)
    probes: Counter[int] = Counter()
    port = FakeEmbedder(schedule)
    env = make_test_resilience_env(seed=seed)

    def embed(k: str) -> AsyncPlan[str]:
        inner = async_map(port.embed_one(k, key=k), lambda _v: k)

        async def _counted() -> R:
            if breaker.mode == "half_open":
                probes[breaker.half_opens] += 1
            return await inner()

        return _counted

    mapper = resilient_mapper(embed, RETRY, TimeoutPolicy(200), env, breaker=breaker)
    gate = asyncio.Semaphore(concurrency)

    async def one(k: str) -> R:
        async with gate:
            return await mapper(k)()

    async def main() -> list[R]:
        return list(await asyncio.gather(*(one(k) for k in KEYS)))

    results = run_virtual(main, seed=seed)
    check_pipeline_laws(Run(results, 0.0, port))
    assert all(n <= policy.half_open_probes for n in probes.values()), probes
    fast = [r for r in results if isinstance(r, Err) and r.error.code == codes.CIRCUIT_OPEN]
    assert len(fast) <= breaker.rejected
    if breaker.trips == 0:
        assert not fast


@given(breakers, budgets, st.integers(1, 8), interleaving_seeds())
def test_a_healthy_dependency_is_never_failed_fast_nor_refused(
    breaker_policy: CircuitBreaker, budget_policy: RetryBudget, concurrency: int, seed: int
) -> None:
    schedule = FaultSchedule({k: [Outcome("ok", 30 * (i % 3))] for i, k in enumerate(KEYS)})
    breaker, budget = SharedCircuitBreaker(breaker_policy), SharedRetryBudget(budget_policy)
    run = run_items(schedule, concurrency, seed, budget=budget, breaker=breaker)
    assert all(isinstance(r, Ok) for r in run.results)
    assert breaker.rejected == breaker.trips == budget.refused == 0
    assert len(run.port.log) == len(KEYS)


@given(breakers)
def test_it_opens_within_the_threshold(policy: CircuitBreaker) -> None:
    """A dependency down for good: when the failures fall within ``window_s`` (backoffs here
    total under 1 s), exactly ``failure_threshold`` calls reach it before it turns half-open."""
    down = FaultSchedule(default=Outcome("transient"))
    breaker = SharedCircuitBreaker(policy)
    run = run_items(down, 1, 0, breaker=breaker)
    check_pipeline_laws(run)
    assert breaker.trips >= 1
    if policy.reset_timeout_s >= 1.0 and policy.window_s >= 1.0:
        assert breaker.half_opens == 0
        assert len(run.port.log) == policy.failure_threshold
        assert breaker.trips == 1


def test_refusals_are_immediate_and_carry_the_last_error() -> None:
    env = make_test_resilience_env()
    budget = SharedRetryBudget(RetryBudget(ratio=0.0, min_per_s=0.0, window_s=1.0))
    calls = 0

    async def failing() -> R:
        nonlocal calls
        calls += 1
        return Err(ErrInfo(codes.TRANSIENT, "down", path=("x",)))

    plan = async_with_resilience(failing, RETRY, None, env, budget=budget)

    async def main() -> tuple[R, float]:
        t0 = asyncio.get_running_loop().time()
        out = await plan()
        return out, asyncio.get_running_loop().time() - t0

    out, elapsed = run_virtual(main)
    assert isinstance(out, Err)
    assert out.error.code == codes.RETRY_BUDGET
    assert out.error.path == ("x",)
    assert out.error.ctx["attempts"] == 1
    assert elapsed == 0.0
    assert calls == 1

    breaker = SharedCircuitBreaker(CircuitBreaker(failure_threshold=1, reset_timeout_s=60.0))
    tripped = async_with_resilience(failing, RetryPolicy(), None, env, breaker=breaker)
    first = run_virtual(tripped)
    second = run_virtual(tripped)
    assert isinstance(first, Err)
    assert first.error.code == codes.TRANSIENT
    assert isinstance(second, Err)
    assert second.error.code == codes.CIRCUIT_OPEN
    assert second.error.ctx == {"attempts": 0}
    assert calls == 2
