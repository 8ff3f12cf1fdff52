"""funcpipe.adapters.otel: FuncPipe's tracing port bound to OpenTelemetry (extra ``[otel]``).

Needs only ``opentelemetry-api``; spans go wherever the application's SDK sends them (an app
without an SDK gets the API's no-op tracer: near-zero cost). Typical use::

    trace = otel_pipeline_trace()                # one per run, from the global provider
    embed = traced_mapper(resilient_embed, trace, "embed")
    batched = traced_batch_mapper(upsert_batch, trace, "upsert")
"""

# The guard runs before the imports below, so a missing extra names the install to run.
# ruff: noqa: E402
from funcpipe.adapters._extras import require_extra

require_extra("otel", "opentelemetry")

from ._tracer import OtelStageTracer as OtelStageTracer
from ._tracer import otel_pipeline_trace as otel_pipeline_trace

__all__ = ["OtelStageTracer", "otel_pipeline_trace"]
