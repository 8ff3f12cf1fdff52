"""The shared, mutable state of a retry budget or circuit breaker (one per stage or port).

The caller creates one and hands it to every plan that should share it (every item of a
stage, every stage calling one port); nothing is global. The holders only apply the pure
transitions of ``funcpipe.policies`` to the time they are given (the interpreter reads its
``ResilienceEnv.clock``). They are for one event loop: no locks, no awaits inside.
"""

from __future__ import annotations

from funcpipe.policies import (
    CLOSED,
    BreakerMode,
    BreakerState,
    BudgetState,
    CircuitBreaker,
    RetryBudget,
    breaker_admit,
    breaker_record,
    budget_record_success,
    budget_try_retry,
)


class SharedRetryBudget:
    """One ``RetryBudget``'s credit, shared by every plan it is given to."""

    __slots__ = ("_state", "granted", "policy", "refused")

    def __init__(self, policy: RetryBudget) -> None:
        self.policy: RetryBudget = policy
        self._state: BudgetState | None = None
        self.granted: int = 0
        """Retries allowed so far."""
        self.refused: int = 0
        """Retries refused so far (each an ``Err(RETRY_BUDGET)``)."""

    def _now(self, now_s: float) -> BudgetState:
        if self._state is None:
            self._state = BudgetState.fresh(self.policy, now_s)
        return self._state

    @property
    def credit(self) -> float:
        """The credit at the last update (the reserve before the first one)."""
        return self.policy.reserve if self._state is None else self._state.credit

    def record_success(self, now_s: float) -> None:
        """A success at ``now_s`` deposits ``ratio`` credit."""
        self._state = budget_record_success(self._now(now_s), self.policy, now_s)

    def try_retry(self, now_s: float) -> bool:
        """Spend one retry at ``now_s`` if the budget allows it."""
        self._state, allowed = budget_try_retry(self._now(now_s), self.policy, now_s)
        if allowed:
            self.granted += 1
        else:
            self.refused += 1
        return allowed


class SharedCircuitBreaker:
    """One ``CircuitBreaker``'s state, shared by every plan it is given to."""

    __slots__ = ("_state", "half_opens", "policy", "rejected", "trips")

    def __init__(self, policy: CircuitBreaker) -> None:
        self.policy: CircuitBreaker = policy
        self._state: BreakerState = CLOSED
        self.rejected: int = 0
        """Calls failed fast so far (each an ``Err(CIRCUIT_OPEN)``)."""
        self.trips: int = 0
        """Times it opened."""
        self.half_opens: int = 0
        """Times it turned half-open (each a new round of at most ``half_open_probes``)."""

    @property
    def mode(self) -> BreakerMode:
        """``closed``, ``open`` or ``half_open`` as of the last call or verdict."""
        return self._state.mode

    def admit(self, now_s: float) -> tuple[bool, bool]:
        """``(admitted, probe)`` for a call starting at ``now_s``."""
        before = self._state.mode
        self._state, admitted, probe = breaker_admit(self._state, self.policy, now_s)
        if before == "open" and self._state.mode == "half_open":
            self.half_opens += 1
        if not admitted:
            self.rejected += 1
        return admitted, probe

    def record(self, now_s: float, ok: bool | None, probe: bool) -> None:
        """The verdict of an admitted call (None: cancelled, no verdict)."""
        before = self._state.mode
        self._state = breaker_record(self._state, self.policy, now_s, ok, probe)
        if before != "open" and self._state.mode == "open":
            self.trips += 1
