"""funcpipe.policies: resilience and flow-control policies as validated data; time ports."""

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
    "BackpressurePolicy",
    "ChunkPolicy",
    "Clock",
    "FairnessPolicy",
    "RateLimitPolicy",
    "RealSleeper",
    "ResilienceEnv",
    "RetryPolicy",
    "Sleep",
    "Sleeper",
    "SystemClock",
    "TimeoutCtx",
    "TimeoutPolicy",
    "TokenBucket",
    "default_timeout_ctx",
    "token_bucket_step",
]
