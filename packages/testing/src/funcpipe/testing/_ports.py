"""The machinery the fake ports share: counting attempts, enacting outcomes, logging."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias, TypeVar

from funcpipe.policies import Sleep
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from ._faults import OK, FaultSchedule, InjectedFault, Outcome

A = TypeVar("A")

Ending: TypeAlias = Literal["ok", "err", "raised", "cancelled"]


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One key's part in one call: its attempt number, planned outcome, how the call ended,
    and when it started and ended (the running loop's clock: virtual under ``run_virtual``)."""

    port: str
    key: str
    attempt: int
    outcome: Outcome
    ended: Ending
    started_at: float = 0.0
    ended_at: float = 0.0


class FaultPort:
    """A fake port that obeys a ``FaultSchedule`` and records every attempt (subclass it and
    call ``enact`` to write your own fakes).

    ``attempts`` counts calls per key; ``log`` holds an ``AttemptRecord`` per key per call, in
    the order calls ended; ``in_flight`` / ``max_in_flight`` count concurrent calls;
    ``hanging`` counts calls stuck in a ``hang`` right now. Latency waits on ``sleep``
    (``asyncio.sleep`` by default: virtual under ``run_virtual``).
    """

    port = "port"

    def __init__(self, schedule: FaultSchedule | None = None, *, sleep: Sleep | None = None):
        self.schedule: FaultSchedule = schedule if schedule is not None else FaultSchedule()
        self._sleep: Sleep = sleep if sleep is not None else asyncio.sleep
        self.attempts: Counter[str] = Counter()
        self.log: list[AttemptRecord] = []
        self.in_flight: int = 0
        self.max_in_flight: int = 0
        self.hanging: int = 0

    def reset_schedule(self, schedule: FaultSchedule | None = None) -> None:
        """Forget attempts and the log (optionally switch schedule); keep any stored data."""
        if schedule is not None:
            self.schedule = schedule
        self.attempts.clear()
        self.log.clear()
        self.in_flight = 0
        self.max_in_flight = 0
        self.hanging = 0

    def attempt_trace(self) -> list[tuple[str, str]]:
        """``(key, outcome kind)`` per attempt, the input ``attempt_norm`` expects."""
        return [(r.key, r.outcome.kind) for r in self.log]

    def _error(self, code: str, key: str, attempt: int, what: str) -> ErrInfo:
        return ErrInfo(
            code,
            f"injected {what} in {self.port} (attempt {attempt})",
            stage=self.port,
            path=(key,),
            ctx={"attempt": attempt},
        )

    async def enact(
        self,
        keys: Sequence[str],
        effect: Callable[[], A],
        *,
        effect_on_timeout: bool = False,
    ) -> Result[A, ErrInfo]:
        """One call covering ``keys``; the worst of their outcomes decides what happens.

        Counts an attempt for every key, waits the latency, then: ``ok`` runs ``effect`` and
        returns ``Ok`` of its value; ``transient``/``timeout`` return ``Err`` with
        ``path=(culprit key,)`` (``effect_on_timeout`` runs the effect before a ``timeout``);
        ``exception`` raises ``InjectedFault``; ``hang`` waits forever. Every key's
        ``AttemptRecord`` is logged when the call ends, however it ends. Build your own fake
        ports on it.
        """
        numbered = []
        combined = OK
        for key in keys:
            self.attempts[key] += 1
            outcome = self.schedule.outcome(key, self.attempts[key])
            numbered.append((key, self.attempts[key], outcome))
            combined = combined.worst(outcome)
        culprit = next((k, n) for k, n, o in numbered if o.kind == combined.kind)
        ended: Ending = "cancelled"
        loop = asyncio.get_running_loop()
        started_at = loop.time()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if combined.latency_ms:
                await self._sleep(combined.latency_ms / 1000.0)
            if combined.kind == "hang":
                self.hanging += 1
                try:
                    await loop.create_future()  # never resolved
                finally:
                    self.hanging -= 1
            if combined.kind == "exception":
                ended = "raised"
                raise InjectedFault(self.port, *culprit)
            if combined.kind == "transient":
                ended = "err"
                return Err(self._error(codes.TRANSIENT, *culprit, "transient error"))
            if combined.kind == "timeout":
                if effect_on_timeout:
                    effect()
                ended = "err"
                return Err(self._error(codes.TIMEOUT, *culprit, "timeout"))
            value = effect()
            ended = "ok"
            return Ok(value)
        finally:
            self.in_flight -= 1
            now = loop.time()
            self.log.extend(
                AttemptRecord(self.port, k, n, o, ended, started_at, now) for k, n, o in numbered
            )
