"""funcpipe.async_plan: replayable descriptions of async steps and their interpreters' policies."""

from ._gather import async_gather as async_gather
from ._gather import run_guarded as run_guarded
from ._guards import SharedCircuitBreaker as SharedCircuitBreaker
from ._guards import SharedRetryBudget as SharedRetryBudget
from ._lift import lift_sync as lift_sync
from ._lift import lift_sync_with_executor as lift_sync_with_executor
from ._plan import AsyncAction as AsyncAction
from ._plan import AsyncPlan as AsyncPlan
from ._plan import async_bind as async_bind
from ._plan import async_from_result as async_from_result
from ._plan import async_lift as async_lift
from ._plan import async_map as async_map
from ._plan import async_map_err as async_map_err
from ._plan import async_pure as async_pure
from ._resilience import NonIdempotentRetryWarning as NonIdempotentRetryWarning
from ._resilience import async_with_resilience as async_with_resilience
from ._resilience import async_with_retry as async_with_retry
from ._resilience import resilient_mapper as resilient_mapper
from ._trace import Attributes as Attributes
from ._trace import AttrValue as AttrValue
from ._trace import PipelineTrace as PipelineTrace
from ._trace import SpanHandle as SpanHandle
from ._trace import StageTracer as StageTracer
from ._trace import current_span as current_span
from ._trace import traced_batch_mapper as traced_batch_mapper
from ._trace import traced_mapper as traced_mapper

__all__ = [
    "AsyncAction",
    "AsyncPlan",
    "AttrValue",
    "Attributes",
    "NonIdempotentRetryWarning",
    "PipelineTrace",
    "SharedCircuitBreaker",
    "SharedRetryBudget",
    "SpanHandle",
    "StageTracer",
    "async_bind",
    "async_from_result",
    "async_gather",
    "async_lift",
    "async_map",
    "async_map_err",
    "async_pure",
    "async_with_resilience",
    "async_with_retry",
    "current_span",
    "lift_sync",
    "lift_sync_with_executor",
    "resilient_mapper",
    "run_guarded",
    "traced_batch_mapper",
    "traced_mapper",
]
