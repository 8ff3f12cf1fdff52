"""Waits as OpenTelemetry histograms (milliseconds)."""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry import metrics
from opentelemetry.metrics import Meter

RATE_LIMIT_WAIT = "funcpipe.rate_limit.wait"


def otel_wait_recorder(
    stage: str, name: str = RATE_LIMIT_WAIT, meter: Meter | None = None
) -> Callable[[float], None]:
    """A callback recording waits given in seconds into the histogram ``name`` (unit ``ms``),
    attribute ``funcpipe.stage=stage``; e.g. ``async_gen_rate_limited(..., on_wait=...)``.

    ``meter`` defaults to the global provider's ``funcpipe`` meter (a no-op without an SDK).
    """
    m = meter if meter is not None else metrics.get_meter("funcpipe")
    histogram = m.create_histogram(name, unit="ms", description="time an item waited")
    attributes = {"funcpipe.stage": stage}

    def _record(wait_s: float) -> None:
        histogram.record(wait_s * 1000.0, attributes)

    return _record
