"""RetryBudget and CircuitBreaker: validated data, and the laws of their pure transitions."""

from __future__ import annotations

from typing import Any

import pytest
from funcpipe.policies import (
    CLOSED,
    BudgetState,
    CircuitBreaker,
    RetryBudget,
    breaker_admit,
    breaker_record,
    budget_record_success,
    budget_try_retry,
)
from hypothesis import given
from hypothesis import strategies as st

budgets = st.builds(
    RetryBudget,
    ratio=st.floats(0.0, 2.0),
    min_per_s=st.floats(0.0, 5.0),
    window_s=st.floats(0.1, 30.0),
)
breakers = st.builds(
    CircuitBreaker,
    failure_threshold=st.integers(1, 6),
    window_s=st.floats(0.1, 30.0),
    reset_timeout_s=st.floats(0.0, 10.0),
    half_open_probes=st.integers(1, 4),
)


@given(st.one_of(budgets, breakers))
def test_round_trip_and_hash(policy: RetryBudget | CircuitBreaker) -> None:
    again = type(policy).from_dict(policy.to_dict())
    assert again == policy
    assert hash(again) == hash(policy)


@pytest.mark.parametrize(
    ("cls", "data", "field"),
    [
        (RetryBudget, {"ratio": -0.1}, "ratio"),
        (RetryBudget, {"min_per_s": float("nan")}, "min_per_s"),
        (RetryBudget, {"window_s": 0}, "window_s"),
        (RetryBudget, {"ratio": True}, "ratio"),
        (RetryBudget, {"burst": 1}, "burst"),
        (CircuitBreaker, {"failure_threshold": 0}, "failure_threshold"),
        (CircuitBreaker, {"window_s": -1.0}, "window_s"),
        (CircuitBreaker, {"reset_timeout_s": "5"}, "reset_timeout_s"),
        (CircuitBreaker, {"half_open_probes": 1.5}, "half_open_probes"),
        (CircuitBreaker, {"probes": 1}, "probes"),
    ],
)
def test_bad_values_name_the_field(cls: Any, data: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=rf"\.{field}\b"):
        cls.from_dict(data)


# Events for the budget: (gap in seconds, True = a success, False = a retry wanted).
budget_events = st.lists(
    st.tuples(st.one_of(st.just(0.0), st.floats(0.0, 3.0)), st.booleans()), max_size=120
)


@given(budgets, budget_events)
def test_retries_are_bounded_by_successes_and_elapsed_time(
    policy: RetryBudget, events: list[tuple[float, bool]]
) -> None:
    state = BudgetState.fresh(policy, 0.0)
    now, retries, successes = 0.0, 0, 0
    for gap, success in events:
        now += gap
        if success:
            state = budget_record_success(state, policy, now)
            successes += 1
        else:
            state, allowed = budget_try_retry(state, policy, now)
            retries += allowed
        assert state.credit >= 0.0
        bound = policy.ratio * successes + policy.min_per_s * (now + policy.window_s)
        assert retries <= bound + 1e-9 * max(1.0, bound)


@given(budgets)
def test_a_refused_retry_spends_nothing(policy: RetryBudget) -> None:
    empty = BudgetState(0.5, 0.0)
    state, allowed = budget_try_retry(empty, policy, 0.0)
    assert not allowed
    assert state == empty


def test_successes_fund_retries_and_old_ones_fade() -> None:
    policy = RetryBudget(ratio=0.5, min_per_s=0.0, window_s=1.0)
    state = BudgetState.fresh(policy, 0.0)
    assert not budget_try_retry(state, policy, 0.0)[1]
    for _ in range(4):
        state = budget_record_success(state, policy, 0.0)
    state, ok1 = budget_try_retry(state, policy, 0.0)
    state, ok2 = budget_try_retry(state, policy, 0.0)
    assert ok1
    assert ok2
    assert not budget_try_retry(state, policy, 0.0)[1]
    for _ in range(4):
        state = budget_record_success(state, policy, 0.0)
    assert not budget_try_retry(state, policy, 10.0)[1]  # ten windows later, faded


# Breaker events: (gap, verdict) where the verdict is for a call admitted at that time:
# True healthy, False failed, None cancelled.
breaker_events = st.lists(
    st.tuples(st.one_of(st.just(0.0), st.floats(0.0, 4.0)), st.sampled_from([True, False, None])),
    max_size=120,
)


@given(breakers, breaker_events, st.integers(0, 3))
def test_half_open_lets_at_most_the_probe_count_through(
    policy: CircuitBreaker, events: list[tuple[float, bool | None]], concurrent: int
) -> None:
    """Calls admitted in a batch of ``concurrent + 1`` before their verdicts arrive."""
    state, now = CLOSED, 0.0
    for gap, verdict in events:
        now += gap
        tickets = []
        for _ in range(concurrent + 1):
            state, admitted, probe = breaker_admit(state, policy, now)
            if admitted:
                tickets.append(probe)
            if state.mode == "half_open":
                assert state.probes <= policy.half_open_probes
            assert sum(tickets) <= policy.half_open_probes
        for probe in tickets:
            state = breaker_record(state, policy, now, verdict, probe)


@given(breakers, st.floats(0.0, 1000.0), st.lists(st.floats(0.0, 0.01), max_size=8))
def test_it_opens_within_the_threshold(
    policy: CircuitBreaker, start: float, gaps: list[float]
) -> None:
    """``failure_threshold`` failures closer together than ``window_s`` open it."""
    state, now = CLOSED, start
    for i in range(policy.failure_threshold):
        state, admitted, _ = breaker_admit(state, policy, now)
        assert admitted
        state = breaker_record(state, policy, now, False, False)
        now += gaps[i] if i < len(gaps) else 0.0
    assert state.mode == "open"
    if policy.reset_timeout_s > now - state.opened_at_s:
        assert not breaker_admit(state, policy, now)[1]


@given(breakers, st.lists(st.floats(0.0, 5.0), max_size=60))
def test_a_healthy_dependency_is_never_failed_fast(
    policy: CircuitBreaker, gaps: list[float]
) -> None:
    state, now = CLOSED, 0.0
    for gap in gaps:
        now += gap
        state, admitted, probe = breaker_admit(state, policy, now)
        assert admitted
        assert not probe
        state = breaker_record(state, policy, now, True, probe)
    assert state == CLOSED


def test_the_breaker_cycle() -> None:
    policy = CircuitBreaker(failure_threshold=2, window_s=1.0, reset_timeout_s=5.0)
    state = breaker_record(CLOSED, policy, 0.0, False, False)
    state = breaker_record(state, policy, 2.0, False, False)  # the first one fell out
    assert state.mode == "closed"
    state = breaker_record(state, policy, 2.5, False, False)
    assert state.mode == "open"
    assert not breaker_admit(state, policy, 7.4)[1]
    state, admitted, probe = breaker_admit(state, policy, 7.5)
    assert admitted
    assert probe
    assert state.mode == "half_open"
    assert not breaker_admit(state, policy, 7.5)[1]  # one probe at a time
    reopened = breaker_record(state, policy, 8.0, False, True)
    assert reopened.mode == "open"
    assert reopened.opened_at_s == 8.0
    released = breaker_record(state, policy, 8.0, None, True)
    assert breaker_admit(released, policy, 8.0)[1]  # a cancelled probe gave its slot back
    assert breaker_record(state, policy, 8.0, True, True) == CLOSED
