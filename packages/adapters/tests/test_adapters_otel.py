"""Tracing a 3-stage pipeline (fair merge, bounded map with retries, batching) through the
OpenTelemetry binding, read back from the SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

pytest.importorskip("opentelemetry.sdk")

from funcpipe.adapters.otel import otel_pipeline_trace
from funcpipe.async_plan import (
    AsyncPlan,
    PipelineTrace,
    async_pure,
    resilient_mapper,
    traced_batch_mapper,
    traced_mapper,
)
from funcpipe.policies import BackpressurePolicy, ChunkPolicy, RetryPolicy
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import (
    AsyncGen,
    async_gen_bounded_map,
    async_gen_chunk,
    async_gen_fair_merge,
    async_gen_flatten,
    async_gen_from_list,
    async_gen_map_action,
)
from funcpipe.testing import FakeClock, make_test_resilience_env, run_virtual
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

R = Result[str, ErrInfo]
KEYS_A = [f"a{i}" for i in range(4)]
KEYS_B = [f"b{i}" for i in range(4)]
FLAKY = {"b2": 2}  # parse fails TRANSIENT this many times for the key
RETRY = RetryPolicy(max_attempts=3, backoff_base_ms=10, jitter_factor=0.0)


def make_tracer() -> tuple[Tracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


def pipeline(trace: PipelineTrace | None) -> AsyncGen[str]:
    failures: dict[str, int] = {}
    batch_calls: list[int] = [0]

    def parse(k: str) -> AsyncPlan[str]:
        async def plan() -> R:
            failures[k] = failures.get(k, 0) + 1
            if failures[k] <= FLAKY.get(k, 0):
                return Err(ErrInfo(codes.TRANSIENT, "flaky", path=(k,)))
            return Ok(k)

        return plan

    def embed(ks: list[str]) -> AsyncPlan[list[R]]:
        async def plan() -> Result[list[R], ErrInfo]:
            batch_calls[0] += 1
            if batch_calls[0] == 1:  # the first batch call fails once
                return Err(ErrInfo(codes.TIMEOUT, "slow"))
            return Ok([Ok(k.upper()) for k in ks])

        return plan

    def store(k: str) -> AsyncPlan[str]:
        return async_pure(k + "!")

    env = make_test_resilience_env()
    merged = async_gen_fair_merge([async_gen_from_list(KEYS_A), async_gen_from_list(KEYS_B)])
    parse_t = traced_mapper(resilient_mapper(parse, RETRY, None, env), trace, "parse")
    parsed = async_gen_bounded_map(merged, parse_t, BackpressurePolicy(3, ordered=False))
    batches = async_gen_chunk(parsed, ChunkPolicy[str](max_units=3))(FakeClock())
    embed_t = traced_batch_mapper(resilient_mapper(embed, RETRY, None, env), trace, "embed")
    embedded = async_gen_flatten(async_gen_map_action(batches, embed_t))
    store_t = traced_mapper(store, trace, "store", key=lambda k: k.lower())
    return async_gen_map_action(embedded, store_t)


def drain(trace: PipelineTrace | None, root: Tracer | None = None) -> list[R]:
    async def main() -> list[R]:
        if root is None:
            return [r async for r in pipeline(trace)()]
        with root.start_as_current_span("run"):
            return [r async for r in pipeline(trace)()]

    return run_virtual(main)


def attrs(span: ReadableSpan) -> dict[str, object]:
    return dict(span.attributes or {})


def span_id(span: ReadableSpan) -> int:
    ctx = span.context
    assert ctx is not None
    return int(ctx.span_id)


def parent_id(span: ReadableSpan) -> int:
    parent = span.parent
    assert parent is not None
    return int(parent.span_id)


def by_name(spans: Sequence[ReadableSpan], name: str) -> dict[str, ReadableSpan]:
    """The spans named ``name`` by their funcpipe.key."""
    out = {}
    for s in spans:
        if s.name == name and s.attributes is not None and "funcpipe.key" in s.attributes:
            out[str(s.attributes["funcpipe.key"])] = s
    return out


def test_the_span_tree_of_a_three_stage_pipeline() -> None:
    tracer, exporter = make_tracer()
    untraced = drain(None)
    traced = drain(otel_pipeline_trace(tracer), root=tracer)
    assert sorted(map(str, traced)) == sorted(map(str, untraced))  # tracing changes nothing
    assert sorted(r.value for r in traced if isinstance(r, Ok)) == sorted(
        k.upper() + "!" for k in KEYS_A + KEYS_B
    )
    spans = exporter.get_finished_spans()
    (run,) = [s for s in spans if s.name == "run"]
    assert run.context is not None
    assert {s.context.trace_id for s in spans if s.context} == {run.context.trace_id}

    parse, store = by_name(spans, "parse"), by_name(spans, "store")
    assert set(parse) == set(store) == set(KEYS_A + KEYS_B)
    for k in parse:
        assert parent_id(parse[k]) == span_id(run)
        # the item's next span hangs off its own span, not off the batch's
        assert parent_id(store[k]) == span_id(parse[k])
        assert attrs(store[k])["funcpipe.stage"] == "store"
        wait = attrs(store[k])["funcpipe.queue_wait_ms"]
        assert isinstance(wait, float)
        assert wait >= 0.0

    flaky = parse["b2"]
    assert flaky.attributes is not None
    assert flaky.attributes["funcpipe.attempt"] == 3
    assert flaky.attributes["funcpipe.retry_reason"] == codes.TRANSIENT
    names = [e.name for e in flaky.events]
    assert names == ["funcpipe.retry", "funcpipe.backoff"] * 2
    assert flaky.events[1].attributes is not None
    assert flaky.events[1].attributes["funcpipe.backoff_ms"] == 10.0
    assert all(not parse[k].events for k in parse if k != "b2")

    embeds = [s for s in spans if s.name == "embed"]
    assert sum(int(str(attrs(s)["funcpipe.batch_size"])) for s in embeds) == 8
    parse_ids = {span_id(p): k for k, p in parse.items()}
    linked = [parse_ids[link.context.span_id] for s in embeds for link in s.links]
    assert sorted(linked) == sorted(KEYS_A + KEYS_B)  # each batch links to its items' spans
    retried = [s for s in embeds if s.events]
    assert len(retried) == 1
    assert retried[0].attributes is not None
    assert retried[0].attributes["funcpipe.retry_reason"] == codes.TIMEOUT


def test_without_an_ambient_span_each_item_has_its_own_trace() -> None:
    tracer, exporter = make_tracer()
    drain(otel_pipeline_trace(tracer))
    spans = exporter.get_finished_spans()
    parse, store = by_name(spans, "parse"), by_name(spans, "store")
    traces = set()
    for k in parse:
        assert parse[k].parent is None
        assert parse[k].context is not None
        assert store[k].context is not None
        assert store[k].context.trace_id == parse[k].context.trace_id
        traces.add(parse[k].context.trace_id)
    assert len(traces) == 8


def test_an_error_ends_the_span_as_failed() -> None:
    tracer, exporter = make_tracer()
    trace = otel_pipeline_trace(tracer)

    def fail(k: str) -> AsyncPlan[str]:
        async def plan() -> R:
            return Err(ErrInfo(codes.AUTH, "no", path=(k,)))

        return plan

    out = run_virtual(traced_mapper(fail, trace, "call")("x"))
    assert isinstance(out, Err)
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["funcpipe.error_code"] == codes.AUTH
    assert not span.status.is_ok


def test_with_no_sdk_configured_nothing_is_traced() -> None:
    from opentelemetry import trace as otel_trace

    if not isinstance(otel_trace.get_tracer_provider(), otel_trace.ProxyTracerProvider):
        pytest.skip("a global tracer provider was set by another test")
    assert otel_pipeline_trace() is None
    parse = resilient_mapper(lambda k: async_pure(k), RETRY)
    assert traced_mapper(parse, otel_pipeline_trace(), "parse") is parse  # zero cost


def test_rate_limit_waits_become_a_histogram() -> None:
    from funcpipe.adapters.otel import RATE_LIMIT_WAIT, otel_wait_recorder
    from funcpipe.policies import RateLimitPolicy
    from funcpipe.streams import async_gen_rate_limited
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    limited = async_gen_rate_limited(
        async_gen_from_list(KEYS_A),
        RateLimitPolicy(tokens_per_second=4.0, burst_tokens=1),
        env=make_test_resilience_env(),
        on_wait=otel_wait_recorder("embed", meter=meter),
    )

    async def main() -> list[R]:
        return [r async for r in limited()]

    assert len(run_virtual(main)) == 4
    data = reader.get_metrics_data()
    assert data is not None
    points = [
        p
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == RATE_LIMIT_WAIT
        for p in m.data.data_points
    ]
    (point,) = points
    assert isinstance(point, HistogramDataPoint)
    assert point.count == 4
    assert point.sum == pytest.approx(750.0)  # 0 + 250 + 250 + 250 ms
    assert dict(point.attributes or {}) == {"funcpipe.stage": "embed"}
