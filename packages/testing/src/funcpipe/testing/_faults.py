"""Fault schedules as data: what a fake port does on each (key, attempt)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, TypeAlias, get_args

FaultKind: TypeAlias = Literal["ok", "transient", "timeout", "exception", "hang"]
"""What one attempt does (after its latency):

- ``ok``: succeeds;
- ``transient``: returns ``Err(TRANSIENT)`` (retriable by default);
- ``timeout``: returns ``Err(TIMEOUT)``, as a client whose own timeout fired (retriable);
  a store applies the write first (the acknowledgement is lost), so a retry writes again;
- ``exception``: raises ``InjectedFault`` (a resilience wrapper makes it ``Err(UNEXPECTED)``,
  not retried);
- ``hang``: never returns; only a timeout (e.g. a ``TimeoutPolicy``) or cancellation ends it.
"""

FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)

_SEVERITY: Mapping[FaultKind, int] = {
    "ok": 0,
    "transient": 1,
    "timeout": 2,
    "exception": 3,
    "hang": 4,
}


class InjectedFault(Exception):
    """The exception a fake raises for an ``exception`` outcome."""

    def __init__(self, port: str, key: str, attempt: int) -> None:
        super().__init__(f"injected fault in {port} for key {key!r} (attempt {attempt})")
        self.port: str = port
        self.key: str = key
        self.attempt: int = attempt


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's fate: wait ``latency_ms`` (virtual time), then behave as ``kind``."""

    kind: FaultKind = "ok"
    latency_ms: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"Outcome.kind must be one of {FAULT_KINDS}, got {self.kind!r}")
        if isinstance(self.latency_ms, bool) or not isinstance(self.latency_ms, int):
            raise ValueError(f"Outcome.latency_ms must be an int, got {self.latency_ms!r}")
        if self.latency_ms < 0:
            raise ValueError(f"Outcome.latency_ms must be >= 0, got {self.latency_ms}")

    @property
    def is_fault(self) -> bool:
        """True unless this is a plain, instant success."""
        return self.kind != "ok" or self.latency_ms > 0

    def worst(self, other: Outcome) -> Outcome:
        """The combined outcome of one call covering both: worst kind, longest latency."""
        kind = self.kind if _SEVERITY[self.kind] >= _SEVERITY[other.kind] else other.kind
        return Outcome(kind, max(self.latency_ms, other.latency_ms))


OK = Outcome()
"""The default outcome: instant success."""


def _as_outcome(item: Outcome | FaultKind) -> Outcome:
    return item if isinstance(item, Outcome) else Outcome(item)


@dataclass(frozen=True)
class FaultSchedule:
    """For each key, the outcomes of its attempts 1, 2, 3, ...; later attempts get ``default``.

    ``FaultSchedule({"a": ["transient", "ok"], "b": [Outcome("hang")]})``. Pure, immutable and
    hashable data: the same schedule replays the same faults, so a failing schedule shrinks
    and replays under Hypothesis.
    """

    outcomes: Mapping[str, Sequence[Outcome | FaultKind]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    default: Outcome = OK

    def __post_init__(self) -> None:
        frozen = {str(k): tuple(_as_outcome(o) for o in v) for k, v in self.outcomes.items()}
        object.__setattr__(self, "outcomes", MappingProxyType(frozen))

    def __hash__(self) -> int:
        return hash((tuple(sorted(self.outcomes.items())), self.default))

    def outcome(self, key: str, attempt: int) -> Outcome:
        """The outcome of ``key``'s ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError(f"FaultSchedule: attempts are counted from 1, got {attempt}")
        planned = self.outcomes.get(key, ())
        found = planned[attempt - 1] if attempt <= len(planned) else self.default
        assert isinstance(found, Outcome)
        return found

    def keys(self) -> frozenset[str]:
        """The keys with planned outcomes."""
        return frozenset(self.outcomes)

    def planned(self) -> Iterator[tuple[str, int, Outcome]]:
        """Every planned ``(key, attempt, outcome)``."""
        for key, items in self.outcomes.items():
            for i, item in enumerate(items, start=1):
                assert isinstance(item, Outcome)
                yield key, i, item

    def kinds(self) -> Counter[str]:
        """How many planned attempts of each kind (``latency`` counts delayed attempts)."""
        tally: Counter[str] = Counter()
        for _, _, o in self.planned():
            tally[o.kind] += 1
            if o.latency_ms:
                tally["latency"] += 1
        return tally
