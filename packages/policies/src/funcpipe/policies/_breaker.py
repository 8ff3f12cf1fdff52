"""CircuitBreaker: fail fast while a dependency is failing, and its pure state machine."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from ._validate import check_int, check_keys, check_number

_FIELDS = frozenset({"failure_threshold", "window_s", "reset_timeout_s", "half_open_probes"})

BreakerMode: TypeAlias = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class CircuitBreaker:
    """Open after ``failure_threshold`` failures within ``window_s`` seconds.

    While open, every call fails fast with ``Err(CIRCUIT_OPEN)``; ``reset_timeout_s`` after
    opening it turns half-open and lets at most ``half_open_probes`` calls through: the first
    probe that succeeds closes it, one that fails opens it again. Invalid values raise
    ``ValueError`` naming the field.
    """

    failure_threshold: int = 5
    window_s: float = 10.0
    reset_timeout_s: float = 5.0
    half_open_probes: int = 1

    def __post_init__(self) -> None:
        check_int("CircuitBreaker", "failure_threshold", self.failure_threshold, minimum=1)
        check_number("CircuitBreaker", "window_s", self.window_s, minimum=0.0, strict=True)
        check_number(
            "CircuitBreaker", "reset_timeout_s", self.reset_timeout_s, minimum=0.0, strict=False
        )
        check_int("CircuitBreaker", "half_open_probes", self.half_open_probes, minimum=1)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form; ``from_dict(to_dict()) == self``."""
        return {
            "failure_threshold": self.failure_threshold,
            "window_s": self.window_s,
            "reset_timeout_s": self.reset_timeout_s,
            "half_open_probes": self.half_open_probes,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CircuitBreaker:
        """Build from plain data; unknown fields and bad values raise ``ValueError``."""
        check_keys("CircuitBreaker", data, _FIELDS)
        return cls(**data)


@dataclass(frozen=True, slots=True)
class BreakerState:
    """``mode``; the recent failure times (closed); when it opened; probes let through."""

    mode: BreakerMode = "closed"
    failures: tuple[float, ...] = ()
    opened_at_s: float = 0.0
    probes: int = 0


CLOSED = BreakerState()
"""A closed breaker with no recent failures: the start state."""


def _finite(now_s: float) -> None:
    if not math.isfinite(now_s):
        raise ValueError(f"circuit breaker: now_s must be finite, got {now_s}")


def breaker_admit(
    state: BreakerState, policy: CircuitBreaker, now_s: float
) -> tuple[BreakerState, bool, bool]:
    """Pure transition: may a call start at ``now_s``?

    Returns ``(new_state, admitted, probe)``. Closed: admitted. Open: refused until
    ``reset_timeout_s`` has passed, then half-open. Half-open: admitted as a probe while fewer
    than ``half_open_probes`` probes are out, else refused.
    """
    _finite(now_s)
    if state.mode == "closed":
        return state, True, False
    if state.mode == "open":
        if now_s - state.opened_at_s < policy.reset_timeout_s:
            return state, False, False
        state = BreakerState("half_open", (), state.opened_at_s, 0)
    if state.probes < policy.half_open_probes:
        return BreakerState("half_open", (), state.opened_at_s, state.probes + 1), True, True
    return state, False, False


def breaker_record(
    state: BreakerState, policy: CircuitBreaker, now_s: float, ok: bool | None, probe: bool
) -> BreakerState:
    """Pure transition: the verdict of an admitted call, at ``now_s``.

    ``ok`` is True (the dependency answered), False (it failed) or None (no verdict: the call
    was cancelled; a probe gives its slot back). Closed: a failure is remembered for
    ``window_s``; the ``failure_threshold``-th within the window opens the breaker. Half-open:
    a probe's success closes it, its failure reopens it; other calls' verdicts are ignored,
    as are all verdicts while open.
    """
    _finite(now_s)
    if state.mode == "closed":
        if ok is not False:
            return state
        recent = tuple(t for t in state.failures if now_s - t < policy.window_s)
        failures = (*recent, now_s)[-policy.failure_threshold :]
        if len(failures) >= policy.failure_threshold:
            return BreakerState("open", (), now_s, 0)
        return BreakerState("closed", failures, state.opened_at_s, 0)
    if state.mode == "open" or not probe:
        return state
    if ok is None:
        return BreakerState("half_open", (), state.opened_at_s, max(0, state.probes - 1))
    if ok:
        return CLOSED
    return BreakerState("open", (), now_s, 0)
