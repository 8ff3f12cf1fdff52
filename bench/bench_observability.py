"""Retry budgets and circuit breakers under an outage; the cost of tracing.

The outage runs on funcpipe.testing's virtual-time loop (requests are counted, not timed): an
embedder-like fake is down for the first half of a 10,000-item run. Tracing costs are wall
time, each figure beside its baseline in the same process run.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Callable

from _harness import Row
from funcpipe.adapters.otel import otel_pipeline_trace
from funcpipe.async_plan import (
    AsyncPlan,
    PipelineTrace,
    SharedCircuitBreaker,
    SharedRetryBudget,
    resilient_mapper,
    traced_mapper,
)
from funcpipe.policies import BackpressurePolicy, CircuitBreaker, RetryBudget, RetryPolicy
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import (
    AsyncGen,
    async_gen_bounded_map,
    async_gen_from_list,
    async_gen_map_action,
)
from funcpipe.testing import make_test_resilience_env, run_virtual
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

# ------------------------------------------------------------------- the outage

N_ITEMS = 10_000
ARRIVAL_S = 0.010  # one item every 10 ms: a 100 s run
OUTAGE_S = N_ITEMS * ARRIVAL_S / 2  # down for the first half of it
CALL_S = 0.020
RETRY = RetryPolicy(max_attempts=4, backoff_base_ms=100, max_backoff_ms=2_000)
BUDGET = RetryBudget(ratio=0.1, min_per_s=1.0, window_s=10.0)
BREAKER = CircuitBreaker(failure_threshold=5, window_s=10.0, reset_timeout_s=2.0)


class Outage:
    """Requests the fake saw, and how many of them succeeded."""

    def __init__(self) -> None:
        self.sent = 0
        self.ok = 0


async def _count(stream: AsyncGen[int]) -> int:
    n = 0
    async for _ in stream():
        n += 1
    return n


def _outage_run(budget: bool, breaker: bool) -> Outage:
    seen = Outage()

    def embed(i: int) -> AsyncPlan[int]:
        async def call() -> Result[int, ErrInfo]:
            seen.sent += 1
            await asyncio.sleep(CALL_S)
            if asyncio.get_running_loop().time() < OUTAGE_S:
                return Err(ErrInfo(codes.TRANSIENT, "503 service unavailable"))
            seen.ok += 1
            return Ok(i)

        return call

    def arrivals() -> AsyncGen[int]:
        async def _gen() -> AsyncIterator[Result[int, ErrInfo]]:
            for i in range(N_ITEMS):
                yield Ok(i)
                await asyncio.sleep(ARRIVAL_S)

        return _gen

    async def main() -> int:
        mapper = resilient_mapper(
            embed,
            RETRY,
            None,
            make_test_resilience_env(seed=7),
            budget=SharedRetryBudget(BUDGET) if budget else None,
            breaker=SharedCircuitBreaker(BREAKER) if breaker else None,
        )
        out = async_gen_bounded_map(arrivals(), mapper, BackpressurePolicy(64))
        return await _count(out)

    assert run_virtual(main) == N_ITEMS
    return seen


# ------------------------------------------------------------------- tracing cost

N_TRACE = 20_000


def _work(x: int) -> AsyncPlan[int]:
    async def _run() -> Result[int, ErrInfo]:
        return Ok(x + 1)

    return _run


def _chain(trace: PipelineTrace | None) -> Callable[[], float]:
    """us per item: a 3-stage chain of plan maps then a bounded map (8), every stage traced."""

    def _once() -> float:
        gc.collect()

        async def _main() -> float:
            t0 = time.perf_counter()
            src = async_gen_from_list(range(N_TRACE))
            s1 = async_gen_map_action(src, traced_mapper(_work, trace, "one"))
            s2 = async_gen_map_action(s1, traced_mapper(_work, trace, "two"))
            s3 = async_gen_map_action(s2, traced_mapper(_work, trace, "three"))
            out = async_gen_bounded_map(
                s3, traced_mapper(_work, trace, "four"), BackpressurePolicy(8)
            )
            assert await _count(out) == N_TRACE
            return (time.perf_counter() - t0) / N_TRACE * 1e6

        return asyncio.run(_main())

    return _once


def _paired(rounds: int, *fns: Callable[[], float]) -> list[float]:
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], fn())
    return best


def _in_memory_trace() -> Callable[[], float]:
    def _once() -> float:
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace = otel_pipeline_trace(provider.get_tracer("bench"))
        us = _chain(trace)()
        assert len(exporter.get_finished_spans()) == 4 * N_TRACE
        return us

    return _once


def run() -> list[Row]:
    plain = _outage_run(budget=False, breaker=False)
    budgeted = _outage_run(budget=True, breaker=False)
    guarded = _outage_run(budget=True, breaker=True)
    no_sdk = otel_pipeline_trace()  # no SDK configured in this process: None
    off, available = _paired(9, _chain(None), _chain(no_sdk))
    off_again, exported = _paired(3, _chain(None), _in_memory_trace())
    return [
        Row(
            "outage, no budget: requests sent",
            plain.sent,
            "successful requests",
            plain.ok,
            "requests",
            "informational (~max_attempts x during the outage)",
        ),
        Row(
            "outage, RetryBudget(0.1, 1/s, 10 s): requests sent",
            budgeted.sent,
            "successful requests",
            budgeted.ok,
            "requests",
            "retries <= 0.1 x successes + 1/s x (elapsed + 10 s)",
            f"retries sent {budgeted.sent - N_ITEMS}; every item still makes its first call",
        ),
        Row(
            "outage, budget + CircuitBreaker(5, 10 s, 2 s): requests sent",
            guarded.sent,
            "successful requests",
            guarded.ok,
            "requests",
            "<= 1.2x",
        ),
        Row(
            "3 plan maps + bounded map(8), tracing available, no SDK, us/item",
            available,
            "the same run without tracing (trace=None)",
            off,
            "us/item",
            "<= 1.03x",
            "otel_pipeline_trace() is None without an SDK provider: the stages are not wrapped",
        ),
        Row(
            "3 plan maps + bounded map(8), SDK in-memory exporter, us/item",
            exported,
            "the same run without tracing (trace=None)",
            off_again,
            "us/item",
            "informational",
            f"{(exported - off_again) / 4:.2f} us per span (4 spans per item)",
        ),
    ]
