"""Every field of every policy is validated (ValueError naming the field); dict round-trips."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from funcpipe.policies import (
    BackpressurePolicy,
    ChunkPolicy,
    FairnessPolicy,
    RateLimitPolicy,
    RetryPolicy,
    TimeoutPolicy,
)
from hypothesis import given
from hypothesis import strategies as st

Policy = (
    RetryPolicy
    | TimeoutPolicy
    | BackpressurePolicy
    | RateLimitPolicy
    | FairnessPolicy
    | ChunkPolicy[object]
)
Factory = Callable[..., Policy]

# Values that no int field accepts: bools are not ints, floats are not ints.
NOT_INTS: list[object] = [True, False, 1.0, 2.5, "3", None, float("nan"), float("inf")]
NOT_NUMBERS: list[object] = [True, False, "1", None, float("nan"), float("inf"), -float("inf")]
NOT_BOOLS: list[object] = [0, 1, "true", None, 1.0]

# (policy, field, bad values, the arguments every construction needs)
CASES: list[tuple[Factory, str, list[object], dict[str, object]]] = [
    (RetryPolicy, "max_attempts", [*NOT_INTS, 0, -1], {}),
    (RetryPolicy, "backoff_base_ms", [*NOT_INTS, -1], {}),
    (RetryPolicy, "max_backoff_ms", [*NOT_INTS, -1], {}),
    (RetryPolicy, "jitter_factor", [*NOT_NUMBERS, -0.1, 1.01, 2], {}),
    (RetryPolicy, "idempotent", NOT_BOOLS, {}),
    (RetryPolicy, "retriable_codes", ["TRANSIENT", 5, None, [""], [1], {"A", 2}], {}),
    (TimeoutPolicy, "timeout_ms", [*NOT_INTS, 0, -5], {}),
    (BackpressurePolicy, "max_concurrent", [*NOT_INTS, 0, -1], {}),
    (BackpressurePolicy, "ordered", NOT_BOOLS, {}),
    (RateLimitPolicy, "tokens_per_second", [*NOT_NUMBERS, 0, 0.0, -1.5], {}),
    (RateLimitPolicy, "burst_tokens", [*NOT_INTS, 0, -1], {}),
    (
        FairnessPolicy,
        "weights",
        [[1, 2], None, "w", {0: 0}, {0: -1}, {0: True}, {0: 1.5}, {-1: 1}, {"0": 1}, {True: 2}],
        {},
    ),
    (FairnessPolicy, "max_buffer_per_stream", [*NOT_INTS, 0, -1], {}),
    (ChunkPolicy, "max_units", [*NOT_INTS, -1], {}),
    (ChunkPolicy, "max_delay_ms", [*NOT_INTS, -1], {}),
    (ChunkPolicy, "flush_on_err", NOT_BOOLS, {}),
    (ChunkPolicy, "size_fn", [None, 3, "len"], {}),
]


def _owner(factory: Factory) -> str:
    return getattr(factory, "__name__", repr(factory))


@pytest.mark.parametrize(
    ("factory", "field", "bad", "base"),
    [(f, n, b, base) for f, n, bads, base in CASES for b in bads],
    ids=lambda v: repr(v)[:30],
)
def test_invalid_field_raises_value_error_naming_it(
    factory: Factory, field: str, bad: object, base: dict[str, object]
) -> None:
    args = {**({"timeout_ms": 10} if factory is TimeoutPolicy else {}), **base, field: bad}
    with pytest.raises(ValueError, match=rf"{_owner(factory)}\.{field}"):
        factory(**args)


def test_every_field_of_every_policy_has_a_validation_case() -> None:
    import dataclasses

    covered = {(_owner(f), n) for f, n, _, _ in CASES}
    for cls in (
        RetryPolicy,
        TimeoutPolicy,
        BackpressurePolicy,
        RateLimitPolicy,
        FairnessPolicy,
        ChunkPolicy,
    ):
        for fld in dataclasses.fields(cls):
            assert (cls.__name__, fld.name) in covered


@given(st.integers(max_value=0))
def test_int_fields_below_minimum_generated(n: int) -> None:
    for make in (
        lambda: RetryPolicy(max_attempts=n),
        lambda: TimeoutPolicy(n),
        lambda: BackpressurePolicy(max_concurrent=n),
        lambda: RateLimitPolicy(burst_tokens=n),
        lambda: FairnessPolicy(max_buffer_per_stream=n),
    ):
        with pytest.raises(ValueError, match="must be >= 1"):
            make()


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_number_fields_reject_out_of_range_floats(x: float) -> None:
    valid_jitter = math.isfinite(x) and 0.0 <= x <= 1.0
    valid_rate = math.isfinite(x) and x > 0
    if valid_jitter:
        assert RetryPolicy(jitter_factor=x).jitter_factor == x
    else:
        with pytest.raises(ValueError, match=r"RetryPolicy\.jitter_factor"):
            RetryPolicy(jitter_factor=x)
    if valid_rate:
        assert RateLimitPolicy(tokens_per_second=x).tokens_per_second == x
    else:
        with pytest.raises(ValueError, match=r"RateLimitPolicy\.tokens_per_second"):
            RateLimitPolicy(tokens_per_second=x)


def test_defaults_match_the_api() -> None:
    r = RetryPolicy()
    assert (r.max_attempts, r.backoff_base_ms, r.max_backoff_ms, r.jitter_factor) == (
        1,
        100,
        10_000,
        0.1,
    )
    assert r.retriable_codes == frozenset({"TRANSIENT", "TIMEOUT", "RATE_LIMIT"})
    assert r.idempotent is True
    assert BackpressurePolicy() == BackpressurePolicy(max_concurrent=8, ordered=True)
    assert RateLimitPolicy() == RateLimitPolicy(tokens_per_second=10.0, burst_tokens=10)
    assert FairnessPolicy() == FairnessPolicy(weights={}, max_buffer_per_stream=16)
    c: ChunkPolicy[str] = ChunkPolicy()
    assert (c.max_units, c.max_delay_ms, c.flush_on_err, c.size_fn("anything")) == (
        128,
        500,
        True,
        1,
    )
    with pytest.raises(TypeError):
        TimeoutPolicy()  # type: ignore[call-arg]


def test_retriable_codes_accepts_any_collection_and_freezes_it() -> None:
    p = RetryPolicy(retriable_codes=["A", "B", "A"])  # type: ignore[arg-type]
    assert p.retriable_codes == frozenset({"A", "B"})
    assert RetryPolicy(retriable_codes=frozenset()).is_retriable("TRANSIENT") is False


@given(st.dictionaries(st.integers(0, 20), st.integers(1, 9), max_size=5), st.integers(0, 40))
def test_fairness_weight_defaults_to_one(weights: dict[int, int], index: int) -> None:
    policy = FairnessPolicy(weights=weights)
    assert policy.weight(index) == weights.get(index, 1)
    assert FairnessPolicy().weight(index) == 1


def test_fairness_weights_are_a_read_only_copy() -> None:
    weights = {0: 2}
    policy = FairnessPolicy(weights=weights)
    weights[0] = 5
    assert policy.weight(0) == 2
    with pytest.raises(TypeError):
        policy.weights[1] = 3  # type: ignore[index]
    assert hash(policy) == hash(FairnessPolicy(weights={0: 2}))


# --- dict round-trip over generated valid policies ----------------------------------------

code_names = st.sampled_from(["TRANSIENT", "TIMEOUT", "RATE_LIMIT", "AUTH", "NETWORK"])
retry_policies = st.builds(
    RetryPolicy,
    max_attempts=st.integers(1, 20),
    retriable_codes=st.frozensets(code_names),
    backoff_base_ms=st.integers(0, 10_000),
    max_backoff_ms=st.integers(0, 100_000),
    jitter_factor=st.one_of(st.floats(0.0, 1.0), st.integers(0, 1)),
    idempotent=st.booleans(),
)
timeout_policies = st.builds(TimeoutPolicy, st.integers(1, 10**9))
backpressure_policies = st.builds(
    BackpressurePolicy, max_concurrent=st.integers(1, 1000), ordered=st.booleans()
)
rate_policies = st.builds(
    RateLimitPolicy,
    tokens_per_second=st.one_of(
        st.floats(min_value=1e-6, max_value=1e6, allow_nan=False), st.integers(1, 1000)
    ),
    burst_tokens=st.integers(1, 1000),
)
fairness_policies = st.builds(
    FairnessPolicy,
    weights=st.dictionaries(st.integers(0, 100), st.integers(1, 100), max_size=6),
    max_buffer_per_stream=st.integers(1, 1000),
)
chunk_policies = st.builds(
    ChunkPolicy,
    max_units=st.shared(st.integers(0, 10_000), key="units"),
    # both limits 0 is refused (an unbounded batch): a delay of 0 only beside some units
    max_delay_ms=st.shared(st.integers(0, 10_000), key="units").flatmap(
        lambda units: st.integers(0 if units else 1, 100_000)
    ),
    flush_on_err=st.booleans(),
)
policies: st.SearchStrategy[Policy] = st.one_of(
    retry_policies,
    timeout_policies,
    backpressure_policies,
    rate_policies,
    fairness_policies,
    chunk_policies,
)


def _from_dict(policy: Policy, data: Mapping[str, Any]) -> Policy:
    return type(policy).from_dict(data)


@given(policies)
def test_dict_round_trip(policy: Policy) -> None:
    data = policy.to_dict()
    assert _from_dict(policy, data) == policy
    # The dict is plain data: it survives JSON unchanged.
    assert _from_dict(policy, json.loads(json.dumps(data))) == policy


@given(policies, st.text(min_size=1, max_size=12))
def test_from_dict_rejects_unknown_fields(policy: Policy, name: str) -> None:
    data = policy.to_dict()
    if name in data:
        return
    with pytest.raises(ValueError, match="is not a field of"):
        _from_dict(policy, {**data, name: 1})


@given(policies)
def test_from_dict_validates_values(policy: Policy) -> None:
    data = policy.to_dict()
    field = next(iter(data))
    with pytest.raises(ValueError, match=rf"{type(policy).__name__}\.{field}"):
        _from_dict(policy, {**data, field: None})


def test_from_dict_rejects_non_mappings_and_missing_required() -> None:
    with pytest.raises(ValueError, match="must be built from a mapping"):
        RetryPolicy.from_dict([("max_attempts", 2)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"TimeoutPolicy\.timeout_ms is required"):
        TimeoutPolicy.from_dict({})
    with pytest.raises(ValueError, match=r"RetryPolicy\.retriable_codes"):
        RetryPolicy.from_dict({"retriable_codes": "TRANSIENT"})
    for bad_key in ("x", "1.5", True, 1.5, None):
        with pytest.raises(ValueError, match=r"FairnessPolicy\.weights"):
            FairnessPolicy.from_dict({"weights": {bad_key: 1}})
    assert FairnessPolicy.from_dict({}) == FairnessPolicy()
    assert FairnessPolicy.from_dict({"weights": {"3": 2, 4: 5}}).weights == {3: 2, 4: 5}


def test_chunk_policy_from_dict_takes_size_fn() -> None:
    policy: ChunkPolicy[str] = ChunkPolicy.from_dict({"max_units": 10}, size_fn=len)
    assert policy.size_fn("abcd") == 4
    assert "size_fn" not in policy.to_dict()


@given(st.integers(0, 3), st.integers(0, 3), st.booleans())
def test_chunk_policy_without_any_limit_is_refused_at_construction(
    units: int, delay_ms: int, via_dict: bool
) -> None:
    # max_units == max_delay_ms == 0 would make one unbounded batch: refused like any bad field
    def make() -> ChunkPolicy[object]:
        if via_dict:
            return ChunkPolicy.from_dict({"max_units": units, "max_delay_ms": delay_ms})
        return ChunkPolicy(max_units=units, max_delay_ms=delay_ms)

    if units or delay_ms:
        assert (make().max_units, make().max_delay_ms) == (units, delay_ms)
    else:
        with pytest.raises(ValueError, match=r"ChunkPolicy\.max_units.*max_delay_ms"):
            make()
