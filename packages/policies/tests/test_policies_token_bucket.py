"""The pure token bucket: grants in any window <= elapsed * rate + burst; waits are honest."""

from __future__ import annotations

import math

import pytest
from funcpipe.policies import RateLimitPolicy, TokenBucket, token_bucket_step
from hypothesis import given
from hypothesis import strategies as st

rate_policies = st.builds(
    RateLimitPolicy,
    tokens_per_second=st.floats(0.1, 100.0),
    burst_tokens=st.integers(1, 20),
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[RateLimitPolicy, list[tuple[float, float]]]:
    """A policy and requests as (absolute time, cost), times non-decreasing."""
    policy = draw(rate_policies)
    gaps = draw(st.lists(st.one_of(st.just(0.0), st.floats(0.0, 2.0)), min_size=1, max_size=60))
    costs = draw(
        st.lists(
            st.one_of(st.just(1.0), st.floats(0.0, float(policy.burst_tokens))),
            min_size=len(gaps),
            max_size=len(gaps),
        )
    )
    times = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    return policy, list(zip(times, costs, strict=True))


@given(scenarios())
def test_grants_in_any_window_are_bounded(
    scenario: tuple[RateLimitPolicy, list[tuple[float, float]]],
) -> None:
    policy, requests = scenario
    state = TokenBucket.full(policy, 0.0)
    granted: list[tuple[float, float]] = []
    for t, cost in requests:
        state, wait = token_bucket_step(state, policy, t, cost)
        assert wait >= 0.0
        assert 0.0 <= state.tokens <= policy.burst_tokens
        if wait == 0.0:
            granted.append((t, cost))
    for i, (start, _) in enumerate(granted):
        total = 0.0
        for end, cost in granted[i:]:
            total += cost
            bound = (end - start) * policy.tokens_per_second + policy.burst_tokens
            assert total <= bound + 1e-9 * max(1.0, bound)


@given(scenarios())
def test_a_refused_request_takes_nothing_and_succeeds_after_the_wait(
    scenario: tuple[RateLimitPolicy, list[tuple[float, float]]],
) -> None:
    policy, requests = scenario
    state = TokenBucket.full(policy, 0.0)
    for t, cost in requests:
        after, wait = token_bucket_step(state, policy, t, cost)
        if wait > 0.0:
            refilled, _ = token_bucket_step(state, policy, t, 0.0)
            assert after.tokens == refilled.tokens  # refused: only refilled, nothing taken
            later = t + wait * (1 + 1e-9) + 1e-9
            _, wait_again = token_bucket_step(after, policy, later, cost)
            assert wait_again == 0.0
        state = after


@given(rate_policies, st.floats(0.0, 1e6), st.floats(0.0, 1e6))
def test_a_clock_going_backwards_adds_nothing(
    policy: RateLimitPolicy, at: float, back: float
) -> None:
    state = TokenBucket(0.0, at)
    after, wait = token_bucket_step(state, policy, at - back, 0.0)
    assert after.tokens == 0.0
    assert after.at_s == at
    assert wait == 0.0


def test_full_bucket_and_the_refill_rate() -> None:
    policy = RateLimitPolicy(tokens_per_second=2.0, burst_tokens=3)
    state = TokenBucket.full(policy, 10.0)
    assert state == TokenBucket(3.0, 10.0)
    for _ in range(3):
        state, wait = token_bucket_step(state, policy, 10.0)
        assert wait == 0.0
    state, wait = token_bucket_step(state, policy, 10.0)
    assert wait == pytest.approx(0.5)
    state, wait = token_bucket_step(state, policy, 10.5)
    assert wait == 0.0


@pytest.mark.parametrize("cost", [-1.0, math.nan, math.inf, 4.0])
def test_bad_costs_are_refused(cost: float) -> None:
    policy = RateLimitPolicy(burst_tokens=3)
    with pytest.raises(ValueError, match="cost"):
        token_bucket_step(TokenBucket.full(policy, 0.0), policy, 0.0, cost)


@pytest.mark.parametrize("now", [math.nan, math.inf, -math.inf])
def test_non_finite_times_are_refused(now: float) -> None:
    policy = RateLimitPolicy()
    with pytest.raises(ValueError, match="now_s"):
        token_bucket_step(TokenBucket.full(policy, 0.0), policy, now)


@given(
    rate=st.floats(min_value=0.01, max_value=1e4, allow_nan=False),
    burst=st.integers(min_value=1, max_value=50),
    start=st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
    takes=st.integers(min_value=1, max_value=30),
)
def test_waiting_exactly_the_returned_time_is_enough(
    rate: float, burst: int, start: float, takes: int
) -> None:
    """A caller that sleeps exactly ``wait_s`` and asks again is granted: no livelock on
    float rounding (e.g. rate 3.0, burst 1 once left a deficit the clock could not cover)."""
    policy = RateLimitPolicy(tokens_per_second=rate, burst_tokens=burst)
    state, now = TokenBucket.full(policy, start), start
    for _ in range(takes):
        state, wait = token_bucket_step(state, policy, now)
        if wait > 0:
            now += wait
            state, wait = token_bucket_step(state, policy, now)
            assert wait == 0.0
