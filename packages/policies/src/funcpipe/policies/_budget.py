"""RetryBudget: retries as a bounded share of recent successes, and its pure state step."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._validate import check_keys, check_number

_FIELDS = frozenset({"ratio", "min_per_s", "window_s"})


@dataclass(frozen=True, slots=True)
class RetryBudget:
    """Retries allowed: ``ratio`` per recent success plus ``min_per_s`` per second.

    Shared by every item of a stage or port (the runtime holds one state per budget). Credit
    grows by ``ratio`` per success and by ``min_per_s`` per second, and decays with time
    constant ``window_s`` (so only recent successes count); a retry spends 1 credit and is
    refused, with ``Err(RETRY_BUDGET)``, when less than 1 is left. A fresh budget holds the
    floor's reserve ``min_per_s * window_s``.

    Law: over any run of ``elapsed`` seconds with ``successes`` successes,
    ``retries <= ratio * successes + min_per_s * (elapsed + window_s)``.
    Invalid values raise ``ValueError`` naming the field.
    """

    ratio: float = 0.1
    min_per_s: float = 1.0
    window_s: float = 10.0

    def __post_init__(self) -> None:
        check_number("RetryBudget", "ratio", self.ratio, minimum=0.0, strict=False)
        check_number("RetryBudget", "min_per_s", self.min_per_s, minimum=0.0, strict=False)
        check_number("RetryBudget", "window_s", self.window_s, minimum=0.0, strict=True)

    @property
    def reserve(self) -> float:
        """The credit of a fresh budget, and of an idle one: ``min_per_s * window_s``."""
        return self.min_per_s * self.window_s

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form; ``from_dict(to_dict()) == self``."""
        return {"ratio": self.ratio, "min_per_s": self.min_per_s, "window_s": self.window_s}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RetryBudget:
        """Build from plain data; unknown fields and bad values raise ``ValueError``."""
        check_keys("RetryBudget", data, _FIELDS)
        return cls(**data)


@dataclass(frozen=True, slots=True)
class BudgetState:
    """Retry credit ``credit`` as of clock time ``at_s``."""

    credit: float
    at_s: float

    @staticmethod
    def fresh(policy: RetryBudget, now_s: float) -> BudgetState:
        """A budget holding its reserve at ``now_s``."""
        return BudgetState(policy.reserve, now_s)


def _advance(state: BudgetState, policy: RetryBudget, now_s: float) -> BudgetState:
    """Credit at ``now_s``: ``d credit/dt = min_per_s - credit / window_s`` (never gains more)."""
    if not math.isfinite(now_s):
        raise ValueError(f"retry budget: now_s must be finite, got {now_s}")
    elapsed = now_s - state.at_s
    if elapsed <= 0.0:  # a clock that goes backwards adds nothing
        return state
    reserve = policy.reserve
    decay = math.exp(-elapsed / policy.window_s)
    return BudgetState(reserve + (state.credit - reserve) * decay, now_s)


def budget_record_success(state: BudgetState, policy: RetryBudget, now_s: float) -> BudgetState:
    """Pure transition: a success at ``now_s`` deposits ``ratio`` credit."""
    moved = _advance(state, policy, now_s)
    return BudgetState(moved.credit + policy.ratio, moved.at_s)


def budget_try_retry(
    state: BudgetState, policy: RetryBudget, now_s: float
) -> tuple[BudgetState, bool]:
    """Pure transition: spend 1 credit for a retry at ``now_s`` if there is that much.

    Returns ``(new_state, allowed)``; a refused retry spends nothing.
    """
    moved = _advance(state, policy, now_s)
    if moved.credit >= 1.0:
        return BudgetState(moved.credit - 1.0, moved.at_s), True
    return moved, False
