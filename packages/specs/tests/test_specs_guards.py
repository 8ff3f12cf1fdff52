"""Retry budgets and circuit breakers carried by specs: data, hashes, and the rebuilt ops."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest
from funcpipe.async_plan import AsyncPlan
from funcpipe.policies import (
    CircuitBreaker,
    ResilienceEnv,
    RetryBudget,
    RetryPolicy,
    SystemClock,
)
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.specs import (
    OpSpec,
    Params,
    Registry,
    flat_map_entry,
    map_entry,
    map_op,
    parse,
    pipeline_spec,
    reconstruct_pipeline,
    serialize,
)
from funcpipe.streams import AsyncGen, async_gen_from_list
from funcpipe.testing import run_virtual
from pydantic import ValidationError

CALLS: list[int] = []


def down_factory(params: Params) -> Callable[[int], AsyncPlan[int]]:
    """Every call is recorded and fails TRANSIENT: a dependency that is down."""

    def run(x: int) -> AsyncPlan[int]:
        async def plan() -> Result[int, ErrInfo]:
            CALLS.append(x)
            return Err(ErrInfo(codes.TRANSIENT, "down", path=(x,)))

        return plan

    return run


def repeat_factory(params: Params) -> Callable[[int], AsyncGen[int]]:
    return lambda x: async_gen_from_list([x])


REGISTRY = Registry(
    [map_entry("down", "1", down_factory), flat_map_entry("rep", "1", repeat_factory)]
)
BUDGET = RetryBudget(ratio=0.2, min_per_s=0.0, window_s=10.0)
BREAKER = CircuitBreaker(failure_threshold=3, window_s=60.0, reset_timeout_s=30.0)


def test_guards_travel_in_a_spec_and_are_hashed() -> None:
    plain = map_op(REGISTRY["down"])
    guarded = map_op(REGISTRY["down"], retry_budget=BUDGET, circuit_breaker=BREAKER)
    assert plain.version != guarded.version
    dumped = plain.model_dump(mode="json")["policies"]
    assert "retry_budget" not in dumped  # specs without guards keep their former hashes
    assert "circuit_breaker" not in dumped
    spec = pipeline_spec("p", [guarded], policies={"b": BUDGET, "cb": BREAKER})
    for fmt in ("json", "yaml"):
        again = parse(serialize(spec, fmt), fmt).unwrap()
        assert again == spec
        assert again.ops[0].policies.retry_budget == BUDGET.to_dict()
    named = pipeline_spec("p", [map_op(REGISTRY["down"], retry_budget="b")], policies={"b": BUDGET})
    assert parse(serialize(named)).unwrap() == named


def test_bad_guards_are_refused() -> None:
    with pytest.raises(ValueError, match="ratio"):
        OpSpec.model_validate(
            {
                "kind": "Map",
                "name": "x",
                "func_id": "down",
                "func_version": "1",
                "policies": {"retry_budget": {"ratio": -1}},
            }
        )
    with pytest.raises(ValidationError, match="FlatMap op takes no circuit_breaker"):
        OpSpec.model_validate(
            {
                "kind": "FlatMap",
                "name": "x",
                "func_id": "rep",
                "func_version": "1",
                "policies": {"circuit_breaker": BREAKER.to_dict()},
            }
        )


def _run(guarded: bool) -> list[Result[object, ErrInfo]]:
    op = map_op(
        REGISTRY["down"],
        retry=RetryPolicy(max_attempts=4, backoff_base_ms=10, jitter_factor=0.0),
        retry_budget=BUDGET if guarded else None,
        circuit_breaker=BREAKER if guarded else None,
    )
    spec = parse(serialize(pipeline_spec("p", [op]))).unwrap()
    env = ResilienceEnv(rng=random.Random(0), sleep=asyncio.sleep, clock=SystemClock())
    pipeline = reconstruct_pipeline(spec, REGISTRY, allow_list={"down"}, env=env).unwrap()

    async def main() -> list[Result[object, ErrInfo]]:
        src = async_gen_from_list(list(range(10)))
        return [r async for r in pipeline.describe(src)()]

    CALLS.clear()
    return run_virtual(main)


def test_the_rebuilt_op_shares_one_budget_and_one_breaker_across_items() -> None:
    unguarded = _run(False)
    assert len(CALLS) == 40  # 10 items x 4 attempts
    assert {r.error.code for r in unguarded if isinstance(r, Err)} == {codes.MAX_RETRIES}
    out = _run(True)
    # Item 0: its first call fails, the budget (no successes, no floor) refuses the retry;
    # items 1 and 2 likewise; the third failure opens the breaker: the rest fail fast.
    assert CALLS == [0, 1, 2]
    got = [r.error.code if isinstance(r, Err) else "ok" for r in out]
    assert got == [codes.RETRY_BUDGET] * 3 + [codes.CIRCUIT_OPEN] * 7
    assert all(isinstance(r, Err) and r.error.path == (i,) for i, r in enumerate(out))
    assert not any(isinstance(r, Ok) for r in out)
