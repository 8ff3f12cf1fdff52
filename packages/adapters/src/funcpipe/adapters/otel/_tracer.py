"""``StageTracer`` and ``SpanHandle`` on the OpenTelemetry API."""

from __future__ import annotations

from collections.abc import Sequence

from funcpipe.async_plan import Attributes, PipelineTrace, SpanHandle
from funcpipe.result import ErrInfo
from opentelemetry import trace
from opentelemetry.trace import Link, Span, Status, StatusCode, Tracer

_SCOPE = "funcpipe"


class _OtelSpan:
    """A started OpenTelemetry span as a ``SpanHandle``; its context is the span itself."""

    __slots__ = ("_span",)

    def __init__(self, span: Span) -> None:
        self._span = span

    @property
    def context(self) -> object:
        return self._span

    def set(self, name: str, value: str | int | float | bool) -> None:
        self._span.set_attribute(name, value)

    def event(self, name: str, attributes: Attributes) -> None:
        self._span.add_event(name, attributes=dict(attributes))

    def finish(self, error: ErrInfo | None) -> None:
        if error is not None:
            self._span.set_attribute("funcpipe.error_code", error.code)
            self._span.set_status(Status(StatusCode.ERROR, f"{error.code}: {error.msg}"))
        self._span.end()


class OtelStageTracer:
    """Starts one OpenTelemetry span per stage per item (or batch).

    ``tracer`` defaults to ``opentelemetry.trace.get_tracer("funcpipe")`` (the global
    provider). A parent of None is the current OpenTelemetry context (e.g. the command's span
    around the run); links are to the spans of a batch's items.
    """

    __slots__ = ("_tracer",)

    def __init__(self, tracer: Tracer | None = None) -> None:
        self._tracer = tracer if tracer is not None else trace.get_tracer(_SCOPE)

    def start(
        self, name: str, attributes: Attributes, parent: object | None, links: Sequence[object]
    ) -> SpanHandle:
        ctx = trace.set_span_in_context(parent) if isinstance(parent, Span) else None
        linked = [Link(s.get_span_context()) for s in links if isinstance(s, Span)]
        span = self._tracer.start_span(name, context=ctx, attributes=dict(attributes), links=linked)
        return _OtelSpan(span)


def otel_pipeline_trace(tracer: Tracer | None = None) -> PipelineTrace | None:
    """A fresh ``PipelineTrace`` for one run, on ``tracer``, timed by the running loop's clock
    (``PipelineTrace(OtelStageTracer(t), clock)`` for another clock).

    Without ``tracer``: the global provider's, or None (nothing wrapped: zero cost) while no
    SDK provider is configured. Call it per run, after the application set up its SDK.
    """
    if tracer is None:
        provider = trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
            return None
    return PipelineTrace(OtelStageTracer(tracer))
