"""RecordingTracer: the tracing port of funcpipe.async_plan, recorded in memory for tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from funcpipe.async_plan import Attributes, AttrValue, PipelineTrace, SpanHandle
from funcpipe.policies import Clock
from funcpipe.result import ErrInfo


@dataclass
class RecordedSpan:
    """One span as the port saw it: ``parent`` and ``links`` are other spans' ``span_id``."""

    span_id: int
    name: str
    attributes: dict[str, AttrValue]
    parent: int | None
    links: tuple[int, ...]
    events: list[tuple[str, dict[str, AttrValue]]] = field(default_factory=list)
    error: ErrInfo | None = None
    finished: bool = False

    @property
    def context(self) -> object:
        return self.span_id

    def set(self, name: str, value: AttrValue) -> None:
        self.attributes[name] = value

    def event(self, name: str, attributes: Attributes) -> None:
        self.events.append((name, dict(attributes)))

    def finish(self, error: ErrInfo | None) -> None:
        if self.finished:
            raise AssertionError(f"span {self.span_id} ({self.name}) finished twice")
        self.error = error
        self.finished = True


class RecordingTracer:
    """A ``StageTracer`` keeping every span in ``spans`` (start order); ids count from 1.

    ``trace(clock)`` makes the ``PipelineTrace`` of a run on it.
    """

    def __init__(self) -> None:
        self.spans: list[RecordedSpan] = []

    def start(
        self, name: str, attributes: Attributes, parent: object | None, links: Sequence[object]
    ) -> SpanHandle:
        span = RecordedSpan(
            span_id=len(self.spans) + 1,
            name=name,
            attributes=dict(attributes),
            parent=parent if isinstance(parent, int) else None,
            links=tuple(x for x in links if isinstance(x, int)),
        )
        self.spans.append(span)
        return span

    def trace(self, clock: Clock | None = None) -> PipelineTrace:
        """A fresh ``PipelineTrace`` recording here (``clock``: the loop's by default)."""
        return PipelineTrace(self) if clock is None else PipelineTrace(self, clock)

    def named(self, name: str) -> list[RecordedSpan]:
        """The spans named ``name``, in start order."""
        return [s for s in self.spans if s.name == name]

    def by_id(self, span_id: int) -> RecordedSpan:
        """The span with ``span_id``."""
        return self.spans[span_id - 1]
