"""async_with_resilience / async_with_retry / resilient_mapper, with injected time only.

Sleeps are recorded by a FakeClock (nothing waits); timeouts come from a FakeTimeout or from a
real TimeoutPolicy on funcpipe.testing's virtual-time loop.
"""

from __future__ import annotations

import asyncio
import random
import warnings
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

import pytest
from funcpipe.async_plan import (
    AsyncPlan,
    NonIdempotentRetryWarning,
    async_map,
    async_with_resilience,
    async_with_retry,
    resilient_mapper,
)
from funcpipe.policies import RetryPolicy, TimeoutPolicy
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from hypothesis import given
from hypothesis import strategies as st

try:
    from funcpipe.testing import (
        FakeClock,
        FakeEmbedder,
        FaultSchedule,
        assert_no_duplication,
        assert_no_loss,
        key_for_result,
        make_fake_timeout_ctx,
        make_test_resilience_env,
        run_virtual,
    )
except ImportError:  # funcpipe-async-plan installed alone: funcpipe-testing is not there
    pytest.skip("needs funcpipe-testing", allow_module_level=True)

R = Result[str, ErrInfo]


@dataclass
class Scripted:
    """A step that returns ``outcomes[k]`` on call k (the last one repeats); counts calls."""

    outcomes: Sequence[R]
    calls: int = 0

    @property
    def plan(self) -> AsyncPlan[str]:
        async def _plan() -> R:
            out = self.outcomes[min(self.calls, len(self.outcomes) - 1)]
            self.calls += 1
            await asyncio.sleep(0)
            return out

        return _plan


def transient(i: int = 0, **ctx: object) -> R:
    return Err(ErrInfo(codes.TRANSIENT, f"try {i}", stage="fetch", path=("doc", i), ctx=ctx))


def drive(plan: AsyncPlan[str]) -> R:
    async def main() -> R:
        return await plan()

    return run_virtual(main)


# --- one behaviour for every policy ------------------------------------------------------

_POLICIES = st.builds(
    lambda n, t: (RetryPolicy(max_attempts=n), None if t is None else TimeoutPolicy(t)),
    st.integers(1, 4),
    st.one_of(st.none(), st.integers(1, 10_000)),
)


@given(_POLICIES, st.booleans(), st.sampled_from(["when_called", "when_awaited"]))
def test_exceptions_become_unexpected_under_every_policy(
    policies: tuple[RetryPolicy, TimeoutPolicy | None], with_env: bool, where: str
) -> None:
    """Law: for every retry/timeout/env, a raising step gives ``Err(UNEXPECTED)`` after one
    call; the wrapper is never the step itself (max_attempts=1 used to let it escape)."""
    retry, timeout = policies
    boom = RuntimeError("kaput")
    calls = 0

    def step() -> Awaitable[R]:
        nonlocal calls
        calls += 1
        if where == "when_called":
            raise boom

        async def _run() -> R:
            raise boom

        return _run()

    env = make_test_resilience_env() if with_env else None
    plan = async_with_resilience(step, retry, timeout, env)
    assert plan is not step
    out = drive(plan)
    assert isinstance(out, Err)
    assert out.error.code == codes.UNEXPECTED
    assert out.error.cause is boom
    assert calls == 1


@given(st.integers(1, 3))
def test_cancelled_error_propagates_under_every_policy(max_attempts: int) -> None:
    async def step() -> R:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        drive(async_with_resilience(step, RetryPolicy(max_attempts=max_attempts)))


def test_one_attempt_returns_the_steps_result_unchanged() -> None:
    err = transient()
    assert drive(async_with_resilience(Scripted([Ok("x")]).plan, RetryPolicy())) == Ok("x")
    assert drive(async_with_resilience(Scripted([err]).plan, RetryPolicy())) == err


# --- bounded attempts and the backoff sequence -------------------------------------------


@given(st.integers(1, 8), st.integers(0, 10))
def test_bounded_attempts(max_attempts: int, failures: int) -> None:
    step = Scripted([transient(i) for i in range(failures)] + [Ok("done")])
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=max_attempts, jitter_factor=0.0)
    out = drive(async_with_retry(step.plan, policy, make_test_resilience_env(clock=clock)))
    assert step.calls == min(max_attempts, failures + 1)
    assert len(clock.sleeps) == step.calls - 1  # a wait between attempts, none after the last
    if failures < max_attempts:
        assert out == Ok("done")
    elif max_attempts == 1:
        assert out == transient(0)  # one attempt: the error itself, as with the bare step
    else:
        assert isinstance(out, Err)
        assert out.error.code == codes.MAX_RETRIES


def test_exact_backoff_sequence_with_zero_jitter() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=4, backoff_base_ms=100, jitter_factor=0.0)
    step = Scripted([transient()])
    out = drive(async_with_retry(step.plan, policy, make_test_resilience_env(clock=clock)))
    assert clock.sleeps == [0.1, 0.2, 0.4]
    assert clock.now_s() == pytest.approx(0.7)
    assert step.calls == 4
    assert isinstance(out, Err)


@given(st.integers(2, 8), st.integers(0, 2_000), st.integers(0, 20_000))
def test_zero_jitter_waits_are_the_preview(n: int, base: int, cap: int) -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=n, backoff_base_ms=base, max_backoff_ms=cap, jitter_factor=0)
    drive(
        async_with_retry(
            Scripted([transient()]).plan, policy, make_test_resilience_env(clock=clock)
        )
    )
    assert clock.sleeps == [min(base * 2 ** (k - 1), cap) / 1000 for k in range(1, n)]


@given(st.integers(2, 8), st.floats(0.0, 1.0), st.integers(0, 2**32))
def test_jitter_bounded_and_reproducible_from_a_seed(n: int, jitter: float, seed: int) -> None:
    policy = RetryPolicy(max_attempts=n, backoff_base_ms=100, jitter_factor=jitter)

    def waits() -> list[float]:
        clock = FakeClock()
        env = make_test_resilience_env(seed=seed, clock=clock)
        drive(async_with_retry(Scripted([transient()]).plan, policy, env))
        return clock.sleeps

    first = waits()
    assert first == waits()  # same seed, same waits
    assert first == list(policy.delays(random.Random(seed)))  # exactly the pure preview
    for k, d in enumerate(first, start=1):
        b = policy.base_delay_s(k)
        assert b * (1 - jitter) - 1e-12 <= d <= b * (1 + jitter) + 1e-12


@given(
    st.lists(
        st.one_of(st.none(), st.floats(0.0, 100.0), st.integers(0, 100)), min_size=1, max_size=6
    ),
    st.integers(0, 30_000),
)
def test_retry_after_overrides_the_backoff(
    retry_afters: list[float | int | None], cap: int
) -> None:
    outcomes = [
        Err(ErrInfo(codes.RATE_LIMIT, "slow down", ctx={} if ra is None else {"retry_after_s": ra}))
        for ra in retry_afters
    ]
    clock = FakeClock()
    n = len(retry_afters) + 1
    policy = RetryPolicy(max_attempts=n, max_backoff_ms=cap, jitter_factor=0.0)
    step = Scripted([*outcomes, Ok("ok")])
    out = drive(async_with_retry(step.plan, policy, make_test_resilience_env(clock=clock)))
    assert out == Ok("ok")
    expected = [
        policy.base_delay_s(k) if ra is None else min(float(ra), cap / 1000)
        for k, ra in enumerate(retry_afters, start=1)
    ]
    assert clock.sleeps == expected


@pytest.mark.parametrize("bad", [-1, "5", True, float("nan"), None])
def test_unusable_retry_after_falls_back_to_backoff(bad: object) -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=2, backoff_base_ms=300, jitter_factor=0.0)
    step = Scripted([Err(ErrInfo(codes.RATE_LIMIT, "x", ctx={"retry_after_s": bad})), Ok("ok")])
    drive(async_with_retry(step.plan, policy, make_test_resilience_env(clock=clock)))
    assert clock.sleeps == [0.3]


# --- what is retried and what is not -----------------------------------------------------


@given(st.sampled_from([codes.AUTH, codes.INVALID_INPUT, codes.FATAL_DB, "CUSTOM"]))
def test_non_retriable_codes_are_returned_unchanged(code: str) -> None:
    err: R = Err(ErrInfo(code, "no", path=("k",)))
    calls = 0

    async def step() -> R:
        nonlocal calls
        calls += 1
        return err

    clock = FakeClock()
    policy = RetryPolicy(max_attempts=5)
    out = drive(async_with_retry(step, policy, make_test_resilience_env(clock=clock)))
    assert out is err  # the same object, untouched
    assert calls == 1
    assert clock.sleeps == []


def test_retriable_codes_come_from_the_policy() -> None:
    step = Scripted([Err(ErrInfo(codes.AUTH, "token expired")), Ok("ok")])
    policy = RetryPolicy(max_attempts=2, retriable_codes=frozenset({codes.AUTH}))
    assert drive(async_with_retry(step.plan, policy, make_test_resilience_env())) == Ok("ok")
    assert step.calls == 2


def test_exceptions_become_unexpected_and_are_not_retried() -> None:
    calls = 0
    boom = RuntimeError("kaput")

    async def step() -> R:
        nonlocal calls
        calls += 1
        raise boom

    out = drive(async_with_retry(step, RetryPolicy(max_attempts=4), make_test_resilience_env()))
    assert isinstance(out, Err)
    assert out.error.code == codes.UNEXPECTED
    assert out.error.cause is boom
    assert calls == 1


# --- exhaustion: MAX_RETRIES -------------------------------------------------------------


@given(st.integers(2, 6))
def test_max_retries_keeps_the_last_errors_path(n: int) -> None:
    step = Scripted([transient(i) for i in range(n)])
    out = drive(
        async_with_retry(step.plan, RetryPolicy(max_attempts=n), make_test_resilience_env())
    )
    assert isinstance(out, Err)
    last = ErrInfo(codes.TRANSIENT, f"try {n - 1}", stage="fetch", path=("doc", n - 1))
    assert out.error.code == codes.MAX_RETRIES
    assert out.error.path == ("doc", n - 1)
    assert out.error.stage == "fetch"
    assert out.error.ctx["attempts"] == n
    assert out.error.ctx["last_error"] == last
    assert str(n) in out.error.msg


# --- timeouts ----------------------------------------------------------------------------


@given(st.lists(st.booleans(), min_size=1, max_size=6))
def test_fake_timeouts_become_timeout_errors(expire: list[bool]) -> None:
    step = Scripted([Ok("fast")])
    n = len(expire)
    timeout_ctx = make_fake_timeout_ctx(expire)
    plan = async_with_resilience(
        step.plan,
        RetryPolicy(max_attempts=n, jitter_factor=0.0),
        TimeoutPolicy(250),
        make_test_resilience_env(),
        timeout_ctx=timeout_ctx,
    )
    out = drive(plan)
    if all(expire):
        assert isinstance(out, Err)
        assert out.error.code == (codes.MAX_RETRIES if n > 1 else codes.TIMEOUT)
        last = out.error.ctx.get("last_error", out.error)
        assert isinstance(last, ErrInfo)
        assert last.code == codes.TIMEOUT
        assert step.calls == 0
    else:
        assert out == Ok("fast")
        assert step.calls == 1
        assert expire.index(False) == len(timeout_ctx.calls) - 1  # type: ignore[attr-defined]
    assert all(s == 0.25 for s in timeout_ctx.calls)  # type: ignore[attr-defined]


def test_a_real_timeout_policy_on_virtual_time() -> None:
    started = 0

    async def slow() -> R:
        nonlocal started
        started += 1
        await asyncio.sleep(3600)  # virtual: completes at once in real time
        return Ok("too late")

    async def main() -> tuple[R, R, float]:
        loop = asyncio.get_running_loop()
        once = await async_with_resilience(slow, RetryPolicy(), TimeoutPolicy(50))()
        t0 = loop.time()
        thrice = await async_with_resilience(
            slow, RetryPolicy(max_attempts=3, jitter_factor=0.0), TimeoutPolicy(50)
        )()
        return once, thrice, loop.time() - t0

    once, thrice, elapsed = run_virtual(main)
    assert isinstance(once, Err)
    assert once.error.code == codes.TIMEOUT
    assert isinstance(thrice, Err)
    assert thrice.error.code == codes.MAX_RETRIES
    last = thrice.error.ctx["last_error"]
    assert isinstance(last, ErrInfo)
    assert last.code == codes.TIMEOUT
    assert started == 4
    assert elapsed == pytest.approx(3 * 0.05 + 0.1 + 0.2)  # virtual seconds, not wall time


# --- cancellation ------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["in_step", "in_backoff", "in_timeout"])
def test_cancellation_propagates_and_leaves_nothing(where: str) -> None:
    async def step() -> R:
        if where == "in_backoff":
            return transient()
        await asyncio.sleep(3600)
        return Ok("never")

    timeout = TimeoutPolicy(10_000_000) if where == "in_timeout" else None
    plan = async_with_resilience(
        step, RetryPolicy(max_attempts=3, backoff_base_ms=60_000, max_backoff_ms=600_000), timeout
    )

    async def main() -> tuple[bool, set[asyncio.Task[object]]]:
        task = asyncio.ensure_future(plan())
        await asyncio.sleep(30)
        assert not task.done()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            cancelled = True
        else:
            cancelled = False
        others = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
        return cancelled, others

    cancelled, others = run_virtual(main)
    assert cancelled
    assert others == set()


def test_a_step_raising_cancelled_error_is_not_converted() -> None:
    async def step() -> R:
        raise asyncio.CancelledError

    plan = async_with_retry(step, RetryPolicy(max_attempts=3), make_test_resilience_env())
    with pytest.raises(asyncio.CancelledError):
        drive(plan)


# --- the non-idempotent warning ----------------------------------------------------------


@given(st.integers(1, 6), st.integers(0, 6), st.booleans())
def test_non_idempotent_warning_once_per_run(n: int, failures: int, idempotent: bool) -> None:
    step = Scripted([transient(i) for i in range(failures)] + [Ok("ok")])
    policy = RetryPolicy(max_attempts=n, idempotent=idempotent)
    plan = async_with_retry(step.plan, policy, make_test_resilience_env())
    retried = min(n, failures + 1) > 1
    for _run in range(2):  # and again on the next run
        step.calls = 0  # the same script again
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            drive(plan)
        ours = [w for w in caught if issubclass(w.category, NonIdempotentRetryWarning)]
        assert len(ours) == (1 if retried and not idempotent else 0)


# --- resilient_mapper --------------------------------------------------------------------


@given(st.lists(st.integers(0, 3), max_size=6))
def test_resilient_mapper_gives_every_item_the_same_retry(failures: list[int]) -> None:
    calls: dict[int, int] = {}

    def fetch(i: int) -> AsyncPlan[str]:
        async def _run() -> R:
            calls[i] = calls.get(i, 0) + 1
            return transient(i) if calls[i] <= failures[i] else Ok(f"item {i}")

        return _run

    mapper = resilient_mapper(fetch, RetryPolicy(max_attempts=3), None, make_test_resilience_env())

    async def main() -> list[R]:
        return [await mapper(i)() for i in range(len(failures))]

    outs = run_virtual(main)
    for i, (f, out) in enumerate(zip(failures, outs, strict=True)):
        assert calls[i] == min(f + 1, 3)
        if f < 3:
            assert out == Ok(f"item {i}")
        else:
            assert isinstance(out, Err)
            assert out.error.code == codes.MAX_RETRIES
            assert out.error.path == ("doc", i)


def test_resilient_mapper_passes_the_timeout_ctx() -> None:
    timeout_ctx = make_fake_timeout_ctx([True])

    def fetch(i: int) -> AsyncPlan[str]:
        async def _run() -> R:
            return Ok(str(i))

        return _run

    mapper = resilient_mapper(
        fetch,
        RetryPolicy(max_attempts=2),
        TimeoutPolicy(100),
        make_test_resilience_env(),
        timeout_ctx=timeout_ctx,
    )
    assert drive(mapper(7)) == Ok("7")
    assert len(timeout_ctx.calls) == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize("where", ["in_f", "in_plan"])
@pytest.mark.parametrize("max_attempts", [1, 3])
def test_resilient_mapper_exceptions_carry_the_items_key(where: str, max_attempts: int) -> None:
    """Law: an error of an item has ``path[0] ==`` its key (the item, or ``key(item)``)."""

    def fetch(i: int) -> AsyncPlan[str]:
        if where == "in_f" and i == 2:
            raise RuntimeError("no plan for 2")

        async def _run() -> R:
            if i == 2:
                raise RuntimeError("kaput")
            return Ok(str(i))

        return _run

    retry = RetryPolicy(max_attempts=max_attempts)
    by_item = resilient_mapper(fetch, retry, None, make_test_resilience_env())
    by_key = resilient_mapper(fetch, retry, None, make_test_resilience_env(), key=lambda i: f"k{i}")
    outs = [drive(by_item(i)) for i in range(4)] + [drive(by_key(2))]
    assert outs[:2] == [Ok("0"), Ok("1")]
    for out, k in [(outs[2], 2), (outs[4], "k2")]:
        assert isinstance(out, Err)
        assert (out.error.code, out.error.path) == (codes.UNEXPECTED, (k,))


def test_resilient_mapper_keys_pathless_errs_and_keeps_other_paths() -> None:
    def fetch(i: str) -> AsyncPlan[str]:
        async def _run() -> R:
            return Err(ErrInfo(codes.AUTH, "no")) if i == "a" else transient(1)

        return _run

    mapper = resilient_mapper(fetch, RetryPolicy())
    a, b = drive(mapper("a")), drive(mapper("b"))
    assert isinstance(a, Err)
    assert a.error.path == ("a",)
    assert b == transient(1)  # ("doc", 1): already located, kept


def test_the_kits_exception_fault_keeps_the_laws_usable() -> None:
    """The testing kit's own ``exception`` fault through resilient_mapper: every result has a
    key, so ``assert_no_duplication`` / ``assert_no_loss`` judge it (they used to raise
    ``ValueError`` on the key-less ``Err(UNEXPECTED)``)."""
    keys = ["a", "b", "c"]
    embedder = FakeEmbedder(FaultSchedule({"b": ["exception"]}))

    def embed(k: str) -> AsyncPlan[str]:
        return async_map(embedder.embed_one(k, key=k), lambda _v: k)

    mapper = resilient_mapper(embed, RetryPolicy(max_attempts=3), None, make_test_resilience_env())

    async def main() -> list[R]:
        return [await mapper(k)() for k in keys]

    outs = run_virtual(main)
    assert_no_duplication(outs)
    assert_no_loss(outs, keys)
    assert [key_for_result(r) for r in outs] == keys
    assert isinstance(outs[1], Err)
    assert outs[1].error.code == codes.UNEXPECTED


def test_env_defaults_when_not_given() -> None:
    step = Scripted([transient(), Ok("ok")])
    plan = async_with_retry(step.plan, RetryPolicy(max_attempts=2, backoff_base_ms=1000))

    async def main() -> tuple[R, float]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        out = await plan()
        return out, loop.time() - t0

    out, elapsed = run_virtual(main)
    assert out == Ok("ok")
    assert 0.9 <= elapsed <= 1.1  # the default env sleeps with asyncio.sleep (virtual time)
