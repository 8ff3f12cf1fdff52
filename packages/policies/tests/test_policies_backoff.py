"""The pure backoff preview: exact with zero jitter, capped, jitter bounded and seeded."""

from __future__ import annotations

import math
import random

import pytest
from funcpipe.policies import RetryPolicy
from hypothesis import assume, given
from hypothesis import strategies as st

bases = st.integers(0, 5_000)
caps = st.integers(0, 60_000)
jitters = st.floats(0.0, 1.0)
attempts = st.integers(1, 200)
seeds = st.integers(0, 2**32)


def _expected_base_s(base_ms: int, cap_ms: int, attempt: int) -> float:
    return min(base_ms * (1 << (attempt - 1)), cap_ms) / 1000.0


def test_exact_sequence_with_zero_jitter() -> None:
    policy = RetryPolicy(max_attempts=4, backoff_base_ms=100, jitter_factor=0.0)
    assert policy.delays() == (0.1, 0.2, 0.4)
    assert policy.delays(random.Random(123)) == (0.1, 0.2, 0.4)


def test_single_attempt_has_no_waits() -> None:
    assert RetryPolicy().delays() == ()


@given(bases, caps, attempts)
def test_zero_jitter_is_capped_doubling(base: int, cap: int, attempt: int) -> None:
    policy = RetryPolicy(backoff_base_ms=base, max_backoff_ms=cap, jitter_factor=0.0)
    expected = _expected_base_s(base, cap, attempt)
    assert policy.base_delay_s(attempt) == expected
    assert policy.delay_s(attempt, random.Random(0)) == expected
    assert policy.delay_s(attempt, random.Random(0)) <= cap / 1000.0


@given(bases, caps, jitters, attempts, seeds)
def test_jitter_stays_within_bounds(
    base: int, cap: int, jitter: float, attempt: int, seed: int
) -> None:
    policy = RetryPolicy(backoff_base_ms=base, max_backoff_ms=cap, jitter_factor=jitter)
    d = policy.delay_s(attempt, random.Random(seed))
    b = _expected_base_s(base, cap, attempt)
    assert d >= 0.0
    assert b * (1 - jitter) - 1e-12 <= d <= b * (1 + jitter) + 1e-12


@given(st.integers(2, 12), bases, caps, jitters, seeds)
def test_jitter_is_reproducible_from_a_seed(
    n: int, base: int, cap: int, jitter: float, seed: int
) -> None:
    policy = RetryPolicy(
        max_attempts=n, backoff_base_ms=base, max_backoff_ms=cap, jitter_factor=jitter
    )
    first = policy.delays(random.Random(seed))
    assert first == policy.delays(random.Random(seed))
    assert len(first) == n - 1
    assert all(d >= 0 for d in first)


def test_different_seeds_give_different_jitter() -> None:
    policy = RetryPolicy(max_attempts=6, backoff_base_ms=100, jitter_factor=0.5)
    previews = {policy.delays(random.Random(seed)) for seed in range(20)}
    assert len(previews) == 20
    zero = RetryPolicy(max_attempts=6, backoff_base_ms=100, jitter_factor=0.0)
    assert len({zero.delays(random.Random(seed)) for seed in range(20)}) == 1


@given(caps, jitters, attempts, st.floats(0.0, 1e6), seeds)
def test_retry_after_overrides_and_is_capped(
    cap: int, jitter: float, attempt: int, retry_after: float, seed: int
) -> None:
    policy = RetryPolicy(max_backoff_ms=cap, jitter_factor=jitter)
    rng = random.Random(seed)
    state = rng.getstate()
    assert policy.delay_s(attempt, rng, retry_after) == min(retry_after, cap / 1000.0)
    assert rng.getstate() == state  # the override draws no randomness


@given(attempts, st.one_of(st.floats(max_value=-1e-9), st.just(math.nan)))
def test_negative_or_nan_retry_after_is_ignored(attempt: int, retry_after: float) -> None:
    policy = RetryPolicy(jitter_factor=0.0)
    assert policy.delay_s(attempt, random.Random(0), retry_after) == policy.base_delay_s(attempt)


def test_infinite_retry_after_is_capped() -> None:
    policy = RetryPolicy(max_backoff_ms=2_500)
    assert policy.delay_s(1, random.Random(0), math.inf) == 2.5


@given(attempts, seeds)
def test_delays_never_negative_at_full_jitter(attempt: int, seed: int) -> None:
    assume(attempt > 0)
    policy = RetryPolicy(backoff_base_ms=1, jitter_factor=1.0)
    assert policy.delay_s(attempt, random.Random(seed)) >= 0.0


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ValueError, match="attempt"):
        RetryPolicy().base_delay_s(0)
    assert RetryPolicy(max_backoff_ms=10_000).base_delay_s(10_000) == 10.0


@given(st.sampled_from(["TRANSIENT", "TIMEOUT", "RATE_LIMIT", "AUTH", "FATAL_DB"]))
def test_is_retriable(code: str) -> None:
    assert RetryPolicy().is_retriable(code) == (code in {"TRANSIENT", "TIMEOUT", "RATE_LIMIT"})
