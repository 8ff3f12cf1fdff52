"""Interpreting RetryPolicy, TimeoutPolicy, RetryBudget and CircuitBreaker around a plan."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from typing import TypeVar

from funcpipe.policies import (
    ResilienceEnv,
    RetryPolicy,
    TimeoutCtx,
    TimeoutPolicy,
    default_timeout_ctx,
)
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from ._guards import SharedCircuitBreaker, SharedRetryBudget
from ._plan import AsyncPlan
from ._trace import note_attempt, note_refusal, note_retry

A = TypeVar("A")
B = TypeVar("B")


class NonIdempotentRetryWarning(RuntimeWarning):
    """A step declared non-idempotent (``RetryPolicy.idempotent=False``) is being retried."""


def _retry_after(err: ErrInfo) -> float | None:
    raw = err.ctx.get("retry_after_s")
    if isinstance(raw, int | float) and not isinstance(raw, bool) and raw >= 0:
        return float(raw)
    return None


def _guarded(step: AsyncPlan[A]) -> AsyncPlan[A]:
    """One attempt, no timeout: ``step``'s result, an exception as ``Err(UNEXPECTED)``."""

    async def _once() -> Result[A, ErrInfo]:
        try:
            return await step()
        except Exception as exc:  # CancelledError is a BaseException: it propagates
            return Err(ErrInfo.from_exception(exc, code=codes.UNEXPECTED))

    return _once


def _refused(code: str, why: str, attempts: int, last: ErrInfo | None) -> Err[ErrInfo]:
    """``Err(code)`` for a call not sent, carrying the last error's place when there was one."""
    note_refusal(code)
    ctx: dict[str, object] = {"attempts": attempts}
    if last is None:
        return Err(ErrInfo(code, why, ctx=ctx))
    ctx["last_error"] = last
    msg = f"{why} after {attempts} attempts: {last.code}: {last.msg}"
    return Err(ErrInfo(code, msg, stage=last.stage, path=last.path, cause=last.cause, ctx=ctx))


def async_with_resilience(
    step: AsyncPlan[A],
    retry: RetryPolicy,
    timeout: TimeoutPolicy | None = None,
    env: ResilienceEnv | None = None,
    *,
    timeout_ctx: TimeoutCtx | None = None,
    budget: SharedRetryBudget | None = None,
    breaker: SharedCircuitBreaker | None = None,
) -> AsyncPlan[A]:
    """Retry ``step`` by ``retry``, bounding each attempt by ``timeout``.

    Order, per attempt: ``breaker`` (open: ``Err(CIRCUIT_OPEN)`` at once, nothing sent) ->
    ``timeout`` around the attempt -> verdict to the breaker -> retry decision: retriable
    code and attempts left -> ``budget`` (exhausted: ``Err(RETRY_BUDGET)`` at once, no sleep)
    -> backoff sleep. A stream's rate limit, when there is one, comes before all of this
    (once per item). The breaker is first so an open circuit costs neither budget nor time;
    the budget is asked before the sleep so a refused retry never waits. Both refusals carry
    ``ctx = {"attempts": n}`` (and ``"last_error"`` after a failed attempt) and are final.
    The breaker counts an error with a retriable code as a failure, any other answer as
    healthy; a cancelled attempt gives no verdict. Every ``Ok`` is a success for the budget.
    Times come from ``env.clock``. Inside a traced stage (``traced_mapper``) the attempt
    number and retry reason are set on its span, each retry and backoff sleep is an event.
    Without ``budget`` and ``breaker``, as before:

    - Only an ``Err`` whose code is in ``retry.retriable_codes`` is retried; any other ``Err``
      is returned unchanged. An attempt that times out becomes ``Err(TIMEOUT)``.
    - Any other exception becomes ``Err(UNEXPECTED)`` and is not retried.
    - ``CancelledError`` always propagates; nothing is left running.
    - Waits come from ``retry.delay_s`` on ``env.rng`` and ``env.sleep``; a ``retry_after_s``
      in the error's ctx overrides the backoff.
    - Exhausted (``max_attempts > 1``, every attempt failed retriably): ``Err(MAX_RETRIES)``
      with the last error's ``path`` and ``stage``, and
      ``ctx = {"attempts": n, "last_error": <ErrInfo>}``. With one attempt the error itself is
      returned (e.g. ``Err(TIMEOUT)``), as without the wrapper.
    - Retrying a step with ``retry.idempotent=False`` warns ``NonIdempotentRetryWarning``
      once per run.
    - One behaviour for every policy: the wrapper is never ``step`` itself, so an exception
      becomes ``Err(UNEXPECTED)`` with ``max_attempts == 1`` too.
    """
    if retry.max_attempts == 1 and timeout is None and budget is None and breaker is None:
        return _guarded(step)
    enter_timeout = timeout_ctx or default_timeout_ctx

    async def _attempt() -> Result[A, ErrInfo]:
        if timeout is None:
            return await step()
        try:
            async with enter_timeout(timeout.timeout_s):
                return await step()
        except TimeoutError:
            return Err(
                ErrInfo(
                    codes.TIMEOUT,
                    f"attempt exceeded {timeout.timeout_ms} ms",
                    ctx={"timeout_ms": timeout.timeout_ms},
                )
            )

    async def _resilient() -> Result[A, ErrInfo]:
        run_env = env  # the default env (a freshly seeded Random) is made only if needed
        if run_env is None and (budget is not None or breaker is not None):
            run_env = ResilienceEnv.default()
        warned = False
        last: ErrInfo | None = None
        for attempt in range(1, retry.max_attempts + 1):
            probe = False
            if breaker is not None and run_env is not None:
                admitted, probe = breaker.admit(run_env.clock.now_s())
                if not admitted:
                    return _refused(codes.CIRCUIT_OPEN, "circuit open", attempt - 1, last)
            note_attempt(attempt)
            try:
                res = await _attempt()
            except asyncio.CancelledError:
                if breaker is not None and run_env is not None:
                    breaker.record(run_env.clock.now_s(), None, probe)
                raise
            except Exception as exc:
                if breaker is not None and run_env is not None:
                    breaker.record(run_env.clock.now_s(), None, probe)
                return Err(ErrInfo.from_exception(exc, code=codes.UNEXPECTED))
            failed = isinstance(res, Err) and res.error.code in retry.retriable_codes
            if run_env is not None:
                now = run_env.clock.now_s()
                if breaker is not None:
                    breaker.record(now, not failed, probe)
                if budget is not None and isinstance(res, Ok):
                    budget.record_success(now)
            if isinstance(res, Ok):
                return res
            last = res.error
            if not failed:
                return res
            if attempt == retry.max_attempts:
                if attempt == 1:  # nothing was retried, so nothing is exhausted
                    return res
                break
            spent = budget is None or run_env is None or budget.try_retry(run_env.clock.now_s())
            if not spent:
                return _refused(codes.RETRY_BUDGET, "retry budget exhausted", attempt, last)
            if not retry.idempotent and not warned:
                warned = True
                warnings.warn(
                    "retrying a step declared non-idempotent (RetryPolicy.idempotent=False)",
                    NonIdempotentRetryWarning,
                    stacklevel=2,
                )
            if run_env is None:
                run_env = ResilienceEnv.default()
            delay = retry.delay_s(attempt, run_env.rng, _retry_after(last))
            note_retry(attempt, last.code, delay)
            await run_env.sleep(delay)
        assert last is not None
        return Err(
            ErrInfo(
                codes.MAX_RETRIES,
                f"gave up after {retry.max_attempts} attempts: {last.code}: {last.msg}",
                stage=last.stage,
                path=last.path,
                cause=last.cause,
                ctx={"attempts": retry.max_attempts, "last_error": last},
            )
        )

    return _resilient


def async_with_retry(
    step: AsyncPlan[A], policy: RetryPolicy, env: ResilienceEnv | None = None
) -> AsyncPlan[A]:
    """``async_with_resilience(step, policy, None, env)``: retry only, no timeout."""
    return async_with_resilience(step, policy, None, env)


def resilient_mapper(
    f: Callable[[A], AsyncPlan[B]],
    retry: RetryPolicy,
    timeout: TimeoutPolicy | None = None,
    env: ResilienceEnv | None = None,
    *,
    timeout_ctx: TimeoutCtx | None = None,
    key: Callable[[A], str | int] | None = None,
    budget: SharedRetryBudget | None = None,
    breaker: SharedCircuitBreaker | None = None,
) -> Callable[[A], AsyncPlan[B]]:
    """Wrap a per-item plan factory so every item's plan gets the same resilience.

    ``budget`` and ``breaker`` are shared by every item (see ``async_with_resilience``).

    Law: every error of an item carries its key: an ``Err`` with an empty ``path`` gets
    ``path=(key(item),)`` (other paths are kept). ``key`` defaults to the item itself when it
    is a ``str`` or ``int`` (else paths are left as they are). An exception raised by ``f``
    (building the plan) or by the plan becomes ``Err(UNEXPECTED)`` for the item, with its key;
    ``CancelledError`` propagates.
    """

    def _key(item: A) -> str | int | None:
        if key is not None:
            return key(item)
        return item if isinstance(item, str | int) else None

    def _mapped(item: A) -> AsyncPlan[B]:
        try:
            plan = async_with_resilience(
                f(item),
                retry,
                timeout,
                env,
                timeout_ctx=timeout_ctx,
                budget=budget,
                breaker=breaker,
            )
        except Exception as exc:
            err = ErrInfo.from_exception(exc, code=codes.UNEXPECTED)

            async def _raised() -> Result[B, ErrInfo]:
                k = _key(item)
                return Err(err if k is None else err.with_path(k))

            return _raised

        async def _keyed() -> Result[B, ErrInfo]:
            res = await plan()
            if isinstance(res, Ok) or res.error.path:
                return res
            k = _key(item)
            return res if k is None else Err(res.error.with_path(k))

        return _keyed

    return _mapped
