"""async_gen_rate_limited: token-bucket bounds over every window of (virtual) time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

import pytest
from funcpipe.policies import RateLimitPolicy, ResilienceEnv
from funcpipe.result import Err, ErrInfo, Ok, Result
from funcpipe.streams import async_gen_from_list, async_gen_rate_limited
from funcpipe.testing import FakeClock, make_test_resilience_env, run_virtual
from hypothesis import given
from hypothesis import strategies as st

Item = Result[int, ErrInfo]


def timed(n: int, gaps_ms: list[int], errs: frozenset[int] = frozenset()) -> AsyncIterator[Item]:
    async def _gen() -> AsyncGenerator[Item, None]:
        for i in range(n):
            await asyncio.sleep(gaps_ms[i] / 1000)
            yield Err(ErrInfo(code="SRC", msg="bad", path=(i,))) if i in errs else Ok(i)

    return _gen()


rate_policies = st.builds(
    RateLimitPolicy,
    tokens_per_second=st.sampled_from([0.5, 1.0, 3.0, 10.0, 40.0]),
    burst_tokens=st.integers(1, 8),
)


def window_ok(times: list[float], policy: RateLimitPolicy) -> bool:
    for i in range(len(times)):
        for j in range(i, len(times)):
            if (
                j - i + 1
                > (times[j] - times[i]) * policy.tokens_per_second + policy.burst_tokens + 1e-9
            ):
                return False
    return True


@given(
    rate_policies,
    st.lists(st.sampled_from([0, 0, 0, 10, 100, 700, 3000]), max_size=40),
    st.frozensets(st.integers(0, 40)),
    st.integers(0, 2**16),
)
def test_emissions_never_exceed_elapsed_times_rate_plus_burst(
    policy: RateLimitPolicy, gaps: list[int], errs: frozenset[int], seed: int
) -> None:
    n = len(gaps)

    async def main() -> tuple[list[float], list[Item]]:
        loop = asyncio.get_running_loop()
        stream = async_gen_rate_limited(lambda: timed(n, gaps, errs), policy)
        times: list[float] = []
        out: list[Item] = []
        async for r in stream():
            times.append(loop.time())
            out.append(r)
        return times, out

    times, out = run_virtual(main, seed=seed)
    assert [r.is_ok() for r in out] == [i not in errs for i in range(n)]  # Errs cost a token too
    assert window_ok(times, policy)


@given(rate_policies, st.integers(20, 120))
def test_long_run_rate_is_the_policy_rate(policy: RateLimitPolicy, n: int) -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        stream = async_gen_rate_limited(async_gen_from_list(range(n)), policy)
        return [loop.time() - t0 async for _ in stream()]

    times = run_virtual(main)
    assert len(times) == n
    # the first burst goes at once; after that exactly one item per 1/rate seconds
    expected_end = max(0, n - policy.burst_tokens) / policy.tokens_per_second
    assert times[-1] == pytest.approx(expected_end, rel=1e-6, abs=1e-6)
    assert times[: policy.burst_tokens] == [0.0] * min(n, policy.burst_tokens)
    assert window_ok(times, policy)


def test_fake_clock_env_and_replay_get_a_fresh_bucket() -> None:
    clock = FakeClock(start_s=100.0)
    env = make_test_resilience_env(clock=clock)
    policy = RateLimitPolicy(tokens_per_second=2.0, burst_tokens=2)
    stream = async_gen_rate_limited(async_gen_from_list(range(5)), policy, env=env)

    async def main() -> list[float]:
        return [clock.now_s() async for _ in stream()]

    first = run_virtual(main)
    assert first == [100.0, 100.0, 100.5, 101.0, 101.5]
    clock.advance(0.25)
    second = run_virtual(main)  # a new iteration starts with a full bucket
    assert second[:2] == [101.75, 101.75]
    assert clock.sleeps == pytest.approx([0.5, 0.5, 0.5, 0.5, 0.5, 0.5])


def test_early_exit_and_purity() -> None:
    opened: list[int] = []

    def src() -> AsyncIterator[Item]:
        opened.append(1)
        return timed(100, [0] * 100)

    stream = async_gen_rate_limited(src, RateLimitPolicy(1.0, 1), env=ResilienceEnv.default())
    assert opened == []

    async def main() -> None:
        n = 0
        async for _ in stream():
            n += 1
            if n == 3:
                break
        assert asyncio.get_running_loop().time() == pytest.approx(2.0)
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run_virtual(main)
    assert opened == [1]
    with pytest.raises(TypeError, match="RateLimitPolicy"):
        async_gen_rate_limited(src, 5.0)  # type: ignore[arg-type]


def test_on_wait_reports_each_items_wait_for_its_token() -> None:
    policy = RateLimitPolicy(tokens_per_second=2.0, burst_tokens=2)
    waits: list[float] = []
    limited = async_gen_rate_limited(
        async_gen_from_list(list(range(5))),
        policy,
        env=make_test_resilience_env(),
        on_wait=waits.append,
    )

    async def main() -> list[Item]:
        return [r async for r in limited()]

    assert run_virtual(main) == [Ok(i) for i in range(5)]
    # two from the burst, then one token every 0.5 s
    assert waits == pytest.approx([0.0, 0.0, 0.5, 0.5, 0.5])
