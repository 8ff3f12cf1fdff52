"""Timeout, backpressure, rate-limit and fairness policies, and the pure token bucket."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ._validate import check_bool, check_int, check_keys, check_number


@dataclass(frozen=True, slots=True)
class TimeoutPolicy:
    """Give up on one attempt after ``timeout_ms`` (required, > 0); it becomes ``Err(TIMEOUT)``."""

    timeout_ms: int

    def __post_init__(self) -> None:
        check_int("TimeoutPolicy", "timeout_ms", self.timeout_ms, minimum=1)

    @property
    def timeout_s(self) -> float:
        """``timeout_ms`` in seconds."""
        return self.timeout_ms / 1000.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form; ``from_dict(to_dict()) == self``."""
        return {"timeout_ms": self.timeout_ms}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TimeoutPolicy:
        """Build from plain data; unknown fields and bad values raise ``ValueError``."""
        check_keys("TimeoutPolicy", data, frozenset({"timeout_ms"}))
        if "timeout_ms" not in data:
            raise ValueError("TimeoutPolicy.timeout_ms is required")
        return cls(**data)


@dataclass(frozen=True, slots=True)
class BackpressurePolicy:
    """At most ``max_concurrent`` items in flight; ``ordered`` keeps input order."""

    max_concurrent: int = 8
    ordered: bool = True

    def __post_init__(self) -> None:
        check_int("BackpressurePolicy", "max_concurrent", self.max_concurrent, minimum=1)
        check_bool("BackpressurePolicy", "ordered", self.ordered)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form; ``from_dict(to_dict()) == self``."""
        return {"max_concurrent": self.max_concurrent, "ordered": self.ordered}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BackpressurePolicy:
        """Build from plain data; unknown fields and bad values raise ``ValueError``."""
        check_keys("BackpressurePolicy", data, frozenset({"max_concurrent", "ordered"}))
        return cls(**data)


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    """Token bucket: refills at ``tokens_per_second``, holds at most ``burst_tokens``.

    Over any window of length t, at most ``t * tokens_per_second + burst_tokens`` tokens are
    granted.
    """

    tokens_per_second: float = 10.0
    burst_tokens: int = 10

    def __post_init__(self) -> None:
        check_number(
            "RateLimitPolicy", "tokens_per_second", self.tokens_per_second, minimum=0, strict=True
        )
        check_int("RateLimitPolicy", "burst_tokens", self.burst_tokens, minimum=1)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form; ``from_dict(to_dict()) == self``."""
        return {"tokens_per_second": self.tokens_per_second, "burst_tokens": self.burst_tokens}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RateLimitPolicy:
        """Build from plain data; unknown fields and bad values raise ``ValueError``."""
        check_keys("RateLimitPolicy", data, frozenset({"tokens_per_second", "burst_tokens"}))
        return cls(**data)


_GRANT_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class TokenBucket:
    """State of a token bucket: ``tokens`` available as of clock time ``at_s``."""

    tokens: float
    at_s: float

    @staticmethod
    def full(policy: RateLimitPolicy, now_s: float) -> TokenBucket:
        """A bucket holding ``burst_tokens`` at ``now_s``."""
        return TokenBucket(float(policy.burst_tokens), now_s)


def token_bucket_step(
    state: TokenBucket, policy: RateLimitPolicy, now_s: float, cost: float = 1.0
) -> tuple[TokenBucket, float]:
    """Pure transition: refill to ``now_s``, then try to take ``cost`` tokens.

    Returns ``(new_state, wait_s)``. ``wait_s == 0`` means the tokens were taken; otherwise
    nothing was taken and ``wait_s`` is how long until enough tokens will exist. A clock that
    goes backwards adds nothing. A ``cost`` that is negative, not finite or above
    ``burst_tokens``, or a ``now_s`` that is not finite, raises ``ValueError``.
    """
    if not math.isfinite(now_s):
        raise ValueError(f"token_bucket_step: now_s must be finite, got {now_s}")
    if not (math.isfinite(cost) and cost >= 0):
        raise ValueError(f"token_bucket_step: cost must be a finite number >= 0, got {cost}")
    if cost > policy.burst_tokens:
        raise ValueError(f"cost {cost} exceeds burst_tokens {policy.burst_tokens}")
    elapsed = max(0.0, now_s - state.at_s)
    tokens = min(float(policy.burst_tokens), state.tokens + elapsed * policy.tokens_per_second)
    at = max(now_s, state.at_s)
    # A deficit below the float resolution (of the tokens, or of the clock at ``now_s``)
    # counts as paid: the grant leaves the bucket that little below zero, so no excess
    # accumulates, and a caller never waits for time its clock cannot represent.
    tolerance = _GRANT_TOLERANCE * max(1.0, cost) + 4 * math.ulp(max(abs(now_s), 1.0)) * (
        policy.tokens_per_second
    )
    if tokens >= cost - tolerance:
        return TokenBucket(tokens - cost, at), 0.0
    return TokenBucket(tokens, at), (cost - tokens) / policy.tokens_per_second


@dataclass(frozen=True, slots=True)
class FairnessPolicy:
    """Weighted fair merge: stream i gets a share proportional to ``weights.get(i, 1)``.

    ``max_buffer_per_stream`` bounds the items read ahead from each stream.
    """

    weights: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))
    max_buffer_per_stream: int = 16

    def __post_init__(self) -> None:
        if not isinstance(self.weights, Mapping):
            raise ValueError("FairnessPolicy.weights must be a mapping of stream index to weight")
        for k, w in self.weights.items():
            check_int("FairnessPolicy", f"weights[{k!r}]", k, minimum=0)
            check_int("FairnessPolicy", f"weights[{k}]", w, minimum=1)
        object.__setattr__(self, "weights", MappingProxyType(dict(self.weights)))
        check_int("FairnessPolicy", "max_buffer_per_stream", self.max_buffer_per_stream, minimum=1)

    def __hash__(self) -> int:
        return hash((tuple(sorted(self.weights.items())), self.max_buffer_per_stream))

    def weight(self, index: int) -> int:
        """The weight of stream ``index`` (1 when missing)."""
        return self.weights.get(index, 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form; ``from_dict(to_dict()) == self``."""
        return {
            "weights": {str(k): v for k, v in sorted(self.weights.items())},
            "max_buffer_per_stream": self.max_buffer_per_stream,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FairnessPolicy:
        """Build from plain data (weight keys may be int strings); bad data: ``ValueError``."""
        check_keys("FairnessPolicy", data, frozenset({"weights", "max_buffer_per_stream"}))
        kwargs = dict(data)
        if "weights" in kwargs:
            raw = kwargs["weights"]
            if not isinstance(raw, Mapping):
                raise ValueError("FairnessPolicy.weights must be a mapping")
            weights: dict[int, int] = {}
            for k, v in raw.items():
                try:
                    if isinstance(k, bool) or not isinstance(k, int | str):
                        raise TypeError(k)
                    weights[int(k)] = v
                except (TypeError, ValueError):
                    raise ValueError(f"FairnessPolicy.weights key {k!r} is not an int") from None
            kwargs["weights"] = weights
        return cls(**kwargs)
