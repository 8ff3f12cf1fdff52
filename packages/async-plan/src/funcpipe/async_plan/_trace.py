"""The tracing port: one span per stage per item (or per batch), with no tracing library here.

``funcpipe.adapters.otel`` binds the port to OpenTelemetry; tests may bind it to anything.
Without a ``PipelineTrace`` nothing is wrapped and nothing is recorded (zero cost); with one,
each item's span is the child of that item's span in the stage before (the context travels
with the item's key, through queues, bounded maps, batching and merges, whatever reorders
it), and a batch's span links to the spans of its items.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias, TypeVar

from funcpipe.policies import Clock, SystemClock
from funcpipe.result import Err, ErrInfo, Result, codes

from ._plan import AsyncPlan

A = TypeVar("A")
B = TypeVar("B")

AttrValue: TypeAlias = str | int | float | bool
Attributes: TypeAlias = Mapping[str, AttrValue]
ItemKey: TypeAlias = str | int

STAGE = "funcpipe.stage"
KEY = "funcpipe.key"
ATTEMPT = "funcpipe.attempt"
QUEUE_WAIT_MS = "funcpipe.queue_wait_ms"
BATCH_SIZE = "funcpipe.batch_size"
RETRY_REASON = "funcpipe.retry_reason"
BACKOFF_MS = "funcpipe.backoff_ms"
ERROR_CODE = "funcpipe.error_code"


class SpanHandle(Protocol):
    """A started span: attributes and events may be added until ``finish``."""

    @property
    def context(self) -> object:
        """An opaque handle the tracer accepts as a parent or a link."""
        ...

    def set(self, name: str, value: AttrValue) -> None:
        """Set one attribute."""
        ...

    def event(self, name: str, attributes: Attributes) -> None:
        """Record a point event (a retry, a backoff sleep)."""
        ...

    def finish(self, error: ErrInfo | None) -> None:
        """End the span; ``error`` marks it failed (its code and one-line message)."""
        ...


class StageTracer(Protocol):
    """Starts spans; ``parent`` None means the caller's ambient context."""

    def start(
        self, name: str, attributes: Attributes, parent: object | None, links: Sequence[object]
    ) -> SpanHandle:
        """Start a span named ``name``."""
        ...


_CURRENT: ContextVar[SpanHandle | None] = ContextVar("funcpipe_current_span", default=None)


def current_span() -> SpanHandle | None:
    """The span of the stage running in this task, if it is traced (interpreters add events)."""
    return _CURRENT.get()


@dataclass
class PipelineTrace:
    """One run's tracing: the tracer, a clock, and where each item's trace is by now.

    ``last[key]`` holds the context of the item's latest span and when it ended. Made by the
    caller per run (or per long-lived pipeline: ``forget`` drops an item that is done).
    """

    tracer: StageTracer
    clock: Clock = field(default_factory=SystemClock)
    last: dict[ItemKey, tuple[object, float]] = field(default_factory=dict)

    def forget(self, key: ItemKey) -> None:
        """Drop what is kept for ``key``."""
        self.last.pop(key, None)


def _default_key(item: object) -> ItemKey | None:
    return item if isinstance(item, str | int) and not isinstance(item, bool) else None


async def _run_in(span: SpanHandle, plan: AsyncPlan[B]) -> Result[B, ErrInfo]:
    """Run ``plan`` with ``span`` current; finish it however the plan ends."""
    token = _CURRENT.set(span)
    error: ErrInfo | None = None
    try:
        res = await plan()
        if isinstance(res, Err):
            error = res.error
        return res
    except asyncio.CancelledError:
        error = ErrInfo(codes.CANCELLED, "cancelled")
        raise
    except Exception as exc:
        error = ErrInfo.from_exception(exc, code=codes.UNEXPECTED)
        raise
    finally:
        _CURRENT.reset(token)
        span.finish(error)


def traced_mapper(
    f: Callable[[A], AsyncPlan[B]],
    trace: PipelineTrace | None,
    stage: str,
    *,
    key: Callable[[A], ItemKey] | None = None,
) -> Callable[[A], AsyncPlan[B]]:
    """Wrap a per-item plan factory so each run of an item's plan is one span named ``stage``.

    Attributes: ``funcpipe.stage``, ``funcpipe.key``, ``funcpipe.queue_wait_ms`` (since the
    item's span in the stage before ended), ``funcpipe.attempt`` and ``funcpipe.retry_reason``
    (set by ``async_with_resilience`` inside it, which also adds ``funcpipe.retry`` and
    ``funcpipe.backoff`` events). ``key`` defaults to the item when it is a ``str``/``int``;
    an item without a key gets a span with the ambient parent. ``trace`` None returns ``f``
    itself. The plan's result is never changed; cancellation propagates (the span ends).
    """
    if trace is None:
        return f
    tr = trace
    key_of = key if key is not None else _default_key

    def _mapped(item: A) -> AsyncPlan[B]:
        plan = f(item)
        k = key_of(item)

        async def _traced() -> Result[B, ErrInfo]:
            now = tr.clock.now_s()
            before = tr.last.get(k) if k is not None else None
            attrs: dict[str, AttrValue] = {STAGE: stage}
            if k is not None:
                attrs[KEY] = k
            if before is not None:
                attrs[QUEUE_WAIT_MS] = max(0.0, (now - before[1]) * 1000.0)
            span = tr.tracer.start(stage, attrs, before[0] if before else None, ())
            try:
                return await _run_in(span, plan)
            finally:
                if k is not None:
                    tr.last[k] = (span.context, tr.clock.now_s())

        return _traced

    return _mapped


def traced_batch_mapper(
    f: Callable[[list[A]], AsyncPlan[B]],
    trace: PipelineTrace | None,
    stage: str,
    *,
    key: Callable[[A], ItemKey] | None = None,
) -> Callable[[list[A]], AsyncPlan[B]]:
    """Like ``traced_mapper`` for a batch: one span per batch, linked to its items' spans.

    Attributes ``funcpipe.stage`` and ``funcpipe.batch_size``; the parent is the ambient
    context. Each item keeps its own trace: its next stage's span is the child of its own
    span before the batch, not of the batch's. ``trace`` None returns ``f`` itself.
    """
    if trace is None:
        return f
    tr = trace
    key_of = key if key is not None else _default_key

    def _mapped(items: list[A]) -> AsyncPlan[B]:
        plan = f(items)
        keys = [k for k in map(key_of, items) if k is not None]

        async def _traced() -> Result[B, ErrInfo]:
            found = [tr.last[k][0] for k in keys if k in tr.last]
            attrs: dict[str, AttrValue] = {STAGE: stage, BATCH_SIZE: len(items)}
            span = tr.tracer.start(stage, attrs, None, found)
            return await _run_in(span, plan)

        return _traced

    return _mapped


def note_attempt(attempt: int) -> None:
    """Record the attempt about to start on the current span, if any."""
    span = _CURRENT.get()
    if span is not None:
        span.set(ATTEMPT, attempt)


def note_retry(attempt: int, reason: str, backoff_s: float) -> None:
    """Record a retry decision and its backoff sleep on the current span, if any."""
    span = _CURRENT.get()
    if span is None:
        return
    span.set(RETRY_REASON, reason)
    span.event("funcpipe.retry", {ATTEMPT: attempt, RETRY_REASON: reason})
    span.event("funcpipe.backoff", {ATTEMPT: attempt, BACKOFF_MS: backoff_s * 1000.0})


def note_refusal(code: str) -> None:
    """Record a call refused by a breaker or a budget on the current span, if any."""
    span = _CURRENT.get()
    if span is not None:
        span.event("funcpipe.refused", {ERROR_CODE: code})
