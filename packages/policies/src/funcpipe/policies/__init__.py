"""funcpipe.policies: resilience and flow-control policies as validated data; time ports."""

from ._breaker import CLOSED as CLOSED
from ._breaker import BreakerMode as BreakerMode
from ._breaker import BreakerState as BreakerState
from ._breaker import CircuitBreaker as CircuitBreaker
from ._breaker import breaker_admit as breaker_admit
from ._breaker import breaker_record as breaker_record
from ._budget import BudgetState as BudgetState
from ._budget import RetryBudget as RetryBudget
from ._budget import budget_record_success as budget_record_success
from ._budget import budget_try_retry as budget_try_retry
from ._chunk import ChunkPolicy as ChunkPolicy
from ._flow import BackpressurePolicy as BackpressurePolicy
from ._flow import FairnessPolicy as FairnessPolicy
from ._flow import RateLimitPolicy as RateLimitPolicy
from ._flow import TimeoutPolicy as TimeoutPolicy
from ._flow import TokenBucket as TokenBucket
from ._flow import token_bucket_step as token_bucket_step
from ._retry import RetryPolicy as RetryPolicy
from ._time import Clock as Clock
from ._time import RealSleeper as RealSleeper
from ._time import ResilienceEnv as ResilienceEnv
from ._time import Sleep as Sleep
from ._time import Sleeper as Sleeper
from ._time import SystemClock as SystemClock
from ._time import TimeoutCtx as TimeoutCtx
from ._time import default_timeout_ctx as default_timeout_ctx

__all__ = [
    "CLOSED",
    "BackpressurePolicy",
    "BreakerMode",
    "BreakerState",
    "BudgetState",
    "ChunkPolicy",
    "CircuitBreaker",
    "Clock",
    "FairnessPolicy",
    "RateLimitPolicy",
    "RealSleeper",
    "ResilienceEnv",
    "RetryBudget",
    "RetryPolicy",
    "Sleep",
    "Sleeper",
    "SystemClock",
    "TimeoutCtx",
    "TimeoutPolicy",
    "TokenBucket",
    "breaker_admit",
    "breaker_record",
    "budget_record_success",
    "budget_try_retry",
    "default_timeout_ctx",
    "token_bucket_step",
]
