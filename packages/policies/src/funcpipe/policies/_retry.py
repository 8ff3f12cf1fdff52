"""RetryPolicy: how many attempts, which codes, and the backoff between attempts."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from funcpipe.result import codes

from ._validate import check_bool, check_int, check_keys, check_number

_FIELDS = frozenset(
    {
        "max_attempts",
        "retriable_codes",
        "backoff_base_ms",
        "max_backoff_ms",
        "jitter_factor",
        "idempotent",
    }
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry typed errors whose code is in ``retriable_codes``, up to ``max_attempts`` in all.

    Delay before attempt k+1 (k >= 1): ``min(backoff_base_ms * 2**(k-1), max_backoff_ms)`` ms,
    jittered by a factor drawn uniformly from ``[1 - jitter_factor, 1 + jitter_factor]``, never
    negative. A ``retry_after_s`` in the error's ``ctx`` (a server's Retry-After) replaces the
    computed delay, capped at ``max_backoff_ms``. ``idempotent=False`` makes interpreters warn
    when they retry. Invalid values raise ``ValueError`` naming the field.
    """

    max_attempts: int = 1
    retriable_codes: frozenset[str] = field(default_factory=lambda: codes.DEFAULT_RETRIABLE)
    backoff_base_ms: int = 100
    max_backoff_ms: int = 10_000
    jitter_factor: float = 0.1
    idempotent: bool = True

    def __post_init__(self) -> None:
        check_int("RetryPolicy", "max_attempts", self.max_attempts, minimum=1)
        check_int("RetryPolicy", "backoff_base_ms", self.backoff_base_ms, minimum=0)
        check_int("RetryPolicy", "max_backoff_ms", self.max_backoff_ms, minimum=0)
        check_number("RetryPolicy", "jitter_factor", self.jitter_factor, minimum=0.0, strict=False)
        if self.jitter_factor > 1.0:
            raise ValueError(f"RetryPolicy.jitter_factor must be <= 1, got {self.jitter_factor}")
        check_bool("RetryPolicy", "idempotent", self.idempotent)
        rc: object = self.retriable_codes
        if isinstance(rc, str) or not isinstance(rc, Iterable):
            raise ValueError("RetryPolicy.retriable_codes must be a collection of code strings")
        frozen = frozenset(rc)
        if not all(isinstance(c, str) and c for c in frozen):
            raise ValueError("RetryPolicy.retriable_codes must hold non-empty strings")
        object.__setattr__(self, "retriable_codes", frozen)

    def base_delay_s(self, attempt: int) -> float:
        """Un-jittered delay in seconds after failed attempt ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError(f"attempt must be >= 1, got {attempt}")
        exponent = min(attempt - 1, 62)
        return min(self.backoff_base_ms * (1 << exponent), self.max_backoff_ms) / 1000.0

    def delay_s(
        self, attempt: int, rng: random.Random, retry_after_s: float | None = None
    ) -> float:
        """Seconds to wait after failed attempt ``attempt`` before the next one (pure given rng).

        A non-negative ``retry_after_s`` overrides the backoff (capped at ``max_backoff_ms``)
        and draws nothing from ``rng``.
        """
        if retry_after_s is not None and retry_after_s >= 0:
            return min(float(retry_after_s), self.max_backoff_ms / 1000.0)
        base = self.base_delay_s(attempt)
        if self.jitter_factor == 0.0 or base == 0.0:
            return base
        factor = 1.0 + rng.uniform(-self.jitter_factor, self.jitter_factor)
        return max(0.0, base * factor)

    def delays(self, rng: random.Random | None = None) -> tuple[float, ...]:
        """Preview of the ``max_attempts - 1`` waits in seconds (no Retry-After)."""
        r = rng if rng is not None else random.Random(0)
        return tuple(self.delay_s(k, r) for k in range(1, self.max_attempts))

    def is_retriable(self, code: str) -> bool:
        """Whether an ``Err`` with ``code`` may be retried."""
        return code in self.retriable_codes

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (codes sorted); ``from_dict(to_dict()) == self``."""
        return {
            "max_attempts": self.max_attempts,
            "retriable_codes": sorted(self.retriable_codes),
            "backoff_base_ms": self.backoff_base_ms,
            "max_backoff_ms": self.max_backoff_ms,
            "jitter_factor": self.jitter_factor,
            "idempotent": self.idempotent,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RetryPolicy:
        """Build from plain data; unknown fields and bad values raise ``ValueError``."""
        check_keys("RetryPolicy", data, _FIELDS)
        kwargs = dict(data)
        if "retriable_codes" in kwargs:
            rc = kwargs["retriable_codes"]
            if isinstance(rc, str) or not isinstance(rc, list | tuple | set | frozenset):
                raise ValueError("RetryPolicy.retriable_codes must be a list of code strings")
            kwargs["retriable_codes"] = frozenset(rc)
        return cls(**kwargs)
