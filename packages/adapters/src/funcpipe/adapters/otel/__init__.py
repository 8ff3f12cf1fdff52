"""funcpipe.adapters.otel: FuncPipe's tracing port bound to OpenTelemetry (extra ``[otel]``).

Needs only ``opentelemetry-api``; spans go wherever the application's SDK sends them (an app
without an SDK gets the API's no-op tracer: near-zero cost). Typical use::

    trace = otel_pipeline_trace()                # one per run, from the global provider
    embed = traced_mapper(resilient_embed, trace, "embed")
    batched = traced_batch_mapper(upsert_batch, trace, "upsert")
    limited = async_gen_rate_limited(src, policy, on_wait=otel_wait_recorder("embed"))
"""

# The guard runs before the imports below, so a missing extra names the install to run.
# ruff: noqa: E402
from funcpipe.adapters._extras import require_extra

require_extra("otel", "opentelemetry")

from ._metrics import RATE_LIMIT_WAIT as RATE_LIMIT_WAIT
from ._metrics import otel_wait_recorder as otel_wait_recorder
from ._tracer import OtelStageTracer as OtelStageTracer
from ._tracer import otel_pipeline_trace as otel_pipeline_trace

__all__ = ["RATE_LIMIT_WAIT", "OtelStageTracer", "otel_pipeline_trace", "otel_wait_recorder"]
