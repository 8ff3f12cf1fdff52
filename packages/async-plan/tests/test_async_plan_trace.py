"""The tracing port: spans per stage per item, context by key, events for retries.

A recording tracer (funcpipe.testing) on a fair merge -> bounded map with retries -> batches
-> map pipeline, under virtual time, drawn schedules and interleavings.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from funcpipe.async_plan import (
    AsyncPlan,
    PipelineTrace,
    async_map,
    async_pure,
    resilient_mapper,
    traced_batch_mapper,
    traced_mapper,
)
from funcpipe.policies import BackpressurePolicy, ChunkPolicy, RetryPolicy
from funcpipe.result import ErrInfo, Ok, Result, codes
from hypothesis import given
from hypothesis import strategies as st

try:
    from funcpipe.streams import (
        AsyncGen,
        async_gen_bounded_map,
        async_gen_chunk,
        async_gen_fair_merge,
        async_gen_flatten,
        async_gen_from_list,
        async_gen_map_action,
        async_gen_take,
    )
    from funcpipe.testing import (
        FakeClock,
        FakeEmbedder,
        FaultSchedule,
        RecordingTracer,
        fault_schedules,
        interleaving_seeds,
        make_test_resilience_env,
        run_virtual,
    )
except ImportError:  # funcpipe-async-plan installed alone
    pytest.skip("needs funcpipe-streams and funcpipe-testing", allow_module_level=True)

R = Result[str, ErrInfo]
LEFT = [f"l{i}" for i in range(6)]
RIGHT = [f"r{i}" for i in range(6)]
KEYS = LEFT + RIGHT
RETRY = RetryPolicy(max_attempts=3, backoff_base_ms=20, jitter_factor=0.0)


def pipeline(
    trace: PipelineTrace | None, port: FakeEmbedder, concurrency: int, batch: int
) -> AsyncGen[str]:
    env = make_test_resilience_env()

    def parse(k: str) -> AsyncPlan[str]:
        return async_map(port.embed_one(k, key=k), lambda _v: k)

    def enrich(ks: list[str]) -> AsyncPlan[list[R]]:
        return async_pure([Ok(k) for k in ks])

    merged = async_gen_fair_merge([async_gen_from_list(LEFT), async_gen_from_list(RIGHT)])
    stage1 = traced_mapper(resilient_mapper(parse, RETRY, None, env), trace, "parse")
    parsed = async_gen_bounded_map(merged, stage1, BackpressurePolicy(concurrency, ordered=False))
    batches = async_gen_chunk(parsed, ChunkPolicy[str](max_units=batch))(FakeClock())
    enriched = async_gen_flatten(
        async_gen_map_action(batches, traced_batch_mapper(enrich, trace, "enrich"))
    )
    return async_gen_map_action(enriched, traced_mapper(async_pure, trace, "store"))


def drain(stream: AsyncGen[str], seed: int) -> list[R]:
    async def main() -> list[R]:
        return [r async for r in stream()]

    return run_virtual(main, seed=seed)


@given(
    fault_schedules(KEYS, max_attempts=3, kinds=("ok", "transient"), latencies=[0, 10, 50]),
    st.integers(1, 5),
    st.integers(1, 5),
    interleaving_seeds(),
)
def test_every_item_keeps_its_trace_across_stages(
    schedule: FaultSchedule, concurrency: int, batch: int, seed: int
) -> None:
    untraced = drain(pipeline(None, FakeEmbedder(schedule), concurrency, batch), seed)
    tracer, port = RecordingTracer(), FakeEmbedder(schedule)
    traced = drain(pipeline(tracer.trace(), port, concurrency, batch), seed)
    assert Counter(map(str, traced)) == Counter(map(str, untraced))  # tracing changes nothing

    assert all(s.finished for s in tracer.spans)
    parse = {str(s.attributes["funcpipe.key"]): s for s in tracer.named("parse")}
    assert len(parse) == len(tracer.named("parse")) == len(KEYS)  # one span per item
    for k, span in parse.items():
        assert span.parent is None
        attempts = port.attempts[k]
        assert span.attributes["funcpipe.attempt"] == attempts
        retries = [e for e in span.events if e[0] == "funcpipe.retry"]
        assert len(retries) == attempts - 1
        assert all(e[1]["funcpipe.retry_reason"] == codes.TRANSIENT for e in retries)
        assert (span.error is None) == any(r.key == k and r.ended == "ok" for r in port.log)

    ok_keys = {r.value for r in traced if isinstance(r, Ok)}
    linked = [i for s in tracer.named("enrich") for i in s.links]
    assert sorted(linked) == sorted(parse[k].span_id for k in ok_keys)  # each item once
    assert sum(int(s.attributes["funcpipe.batch_size"]) for s in tracer.named("enrich")) == len(
        ok_keys
    )
    store = {str(s.attributes["funcpipe.key"]): s for s in tracer.named("store")}
    assert set(store) == ok_keys
    for k, span in store.items():
        assert span.parent == parse[k].span_id  # the item's own span, not the batch's
        assert float(span.attributes["funcpipe.queue_wait_ms"]) >= 0.0


def test_without_a_trace_nothing_is_wrapped() -> None:
    def f(k: str) -> AsyncPlan[str]:
        return async_pure(k)

    def g(ks: list[str]) -> AsyncPlan[list[str]]:
        return async_pure(ks)

    assert traced_mapper(f, None, "x") is f
    assert traced_batch_mapper(g, None, "x") is g


def test_spans_end_when_a_run_stops_early() -> None:
    tracer = RecordingTracer()
    trace = tracer.trace()

    def slow(k: str) -> AsyncPlan[str]:
        async def plan() -> R:
            await asyncio.sleep(1.0 if k != "l0" else 0.0)
            return Ok(k)

        return plan

    stream = async_gen_take(
        async_gen_bounded_map(
            async_gen_from_list(KEYS),
            traced_mapper(slow, trace, "slow"),
            BackpressurePolicy(4, ordered=False),
        ),
        1,
    )
    out = drain(stream, 0)
    assert out == [Ok("l0")]
    assert len(tracer.spans) >= 2
    assert all(s.finished for s in tracer.spans)
    cancelled = [s for s in tracer.spans if s.error is not None]
    assert cancelled
    assert all(s.error is not None and s.error.code == codes.CANCELLED for s in cancelled)
