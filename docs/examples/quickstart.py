"""A runnable tour of the core packages: describe async work as data, then drive it once."""

from __future__ import annotations

import asyncio
import random

from funcpipe.adapters.runtime import perform_async
from funcpipe.async_plan import AsyncPlan, async_bind, async_gather, async_pure, async_with_retry
from funcpipe.policies import ResilienceEnv, RetryPolicy, SystemClock
from funcpipe.result import Err, ErrInfo, Ok, Result, codes


def flaky_fetch(key: int, failures: dict[int, int]) -> AsyncPlan[str]:
    """A step that fails with TRANSIENT the first ``failures[key]`` times it runs."""

    async def _fetch() -> Result[str, ErrInfo]:
        if failures.get(key, 0) > 0:
            failures[key] -= 1
            return Err(ErrInfo(codes.TRANSIENT, "flaky upstream", path=(key,)))
        return Ok(f"doc-{key}")

    return _fetch


async def main() -> None:
    failures = {1: 2, 3: 5}
    # Seeded randomness and a no-wait sleep: the run is reproducible and instant.
    env = ResilienceEnv(rng=random.Random(7), sleep=lambda s: asyncio.sleep(0), clock=SystemClock())
    policy = RetryPolicy(max_attempts=3, backoff_base_ms=50)
    plans = [async_with_retry(flaky_fetch(k, failures), policy, env) for k in range(5)]
    print("backoff preview:", policy.delays(random.Random(0)))
    whole = async_bind(async_pure("batch"), lambda _: async_gather(plans, concurrency=2))
    print("nothing has run yet; failures left:", failures)
    match await perform_async(whole):
        case Ok(value=docs):
            print("all fetched:", docs)
        case Err(error=e):
            print(f"gather failed: {e.code} at path {e.path}: {e.msg}")
    for k, plan in enumerate(plans):
        print(k, await perform_async(plan))


if __name__ == "__main__":
    asyncio.run(main())
