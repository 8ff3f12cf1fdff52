"""async_gen_rate_limited: a token bucket on the injected clock."""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, Callable
from typing import TypeVar

from funcpipe.policies import RateLimitPolicy, ResilienceEnv, TokenBucket, token_bucket_step
from funcpipe.result import ErrInfo, Result

from ._core import close_stream, open_stream, stream
from ._types import AsyncGen

T = TypeVar("T")


def async_gen_rate_limited(
    stream_in: AsyncGen[T],
    policy: RateLimitPolicy,
    *,
    env: ResilienceEnv | None = None,
    on_wait: Callable[[float], None] | None = None,
) -> AsyncGen[T]:
    """Pass ``stream_in`` through a token bucket: every emitted item (Ok or Err) costs a token.

    Law: over any window of length t on ``env.clock``, at most
    ``t * tokens_per_second + burst_tokens`` items are emitted, so the long-run rate never
    exceeds ``tokens_per_second``. The bucket starts full at the first item of each iteration
    (replays do not share it). Waiting uses ``env.sleep``; ``env`` defaults to
    ``ResilienceEnv.default()`` (the loop's clock and ``asyncio.sleep``), made when the
    iteration starts. At most one item is held while waiting for a token; no task is started.
    Cancellation interrupts the wait and closes the upstream. ``on_wait``, when given, is
    called with each emitted item's wait for its token in seconds (0.0 when there was none),
    e.g. to feed a histogram; it must not raise.
    """
    if not isinstance(policy, RateLimitPolicy):
        raise TypeError(f"async_gen_rate_limited: policy must be a RateLimitPolicy, got {policy!r}")

    async def _limited() -> AsyncGenerator[Result[T, ErrInfo], None]:
        e = env if env is not None else ResilienceEnv.default()
        clock, sleep = e.clock, e.sleep
        bucket: TokenBucket | None = None
        it = open_stream(stream_in)
        try:
            async for item in it:
                now = arrived = clock.now_s()
                if bucket is None:
                    bucket = TokenBucket.full(policy, now)
                while True:
                    bucket, wait_s = token_bucket_step(bucket, policy, now)
                    if wait_s <= 0:
                        break
                    await sleep(wait_s)
                    # Having slept wait_s, at least that much time has passed. Counting it so,
                    # and at least one float step, avoids a livelock when rounding leaves a
                    # deficit smaller than the clock's resolution.
                    now = max(clock.now_s(), now + wait_s, math.nextafter(now, math.inf))
                if on_wait is not None:
                    on_wait(now - arrived)
                yield item
        finally:
            await close_stream(it)

    return stream(_limited)
