"""Policies as data: the kinds a spec can carry and their validated dict form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, TypeAlias

from funcpipe.policies import (
    BackpressurePolicy,
    ChunkPolicy,
    RateLimitPolicy,
    RetryPolicy,
    TimeoutPolicy,
)
from pydantic import JsonValue

PolicyKind = Literal["retry", "timeout", "backpressure", "rate_limit", "chunk"]
POLICY_KINDS: tuple[PolicyKind, ...] = ("retry", "timeout", "backpressure", "rate_limit", "chunk")

AnyPolicy: TypeAlias = (
    RetryPolicy | TimeoutPolicy | BackpressurePolicy | RateLimitPolicy | ChunkPolicy[object]
)

_FLOAT_FIELDS: dict[PolicyKind, tuple[str, ...]] = {
    "retry": ("jitter_factor",),
    "rate_limit": ("tokens_per_second",),
}


def build_policy(kind: PolicyKind, data: Mapping[str, object]) -> AnyPolicy:
    """Build the policy object; bad data raises ``ValueError`` naming the field."""
    try:
        if kind == "retry":
            return RetryPolicy.from_dict(data)
        if kind == "timeout":
            return TimeoutPolicy.from_dict(data)
        if kind == "backpressure":
            return BackpressurePolicy.from_dict(data)
        if kind == "rate_limit":
            return RateLimitPolicy.from_dict(data)
        return ChunkPolicy[object].from_dict(data)
    except TypeError as exc:  # e.g. cls(**data) refusing the data's shape
        raise ValueError(f"{kind} policy: {exc}") from None


def policy_kind(policy: object) -> PolicyKind:
    """The spec kind of a policy object; ``ValueError`` for anything a spec cannot carry."""
    kinds: tuple[tuple[type, PolicyKind], ...] = (
        (RetryPolicy, "retry"),
        (TimeoutPolicy, "timeout"),
        (BackpressurePolicy, "backpressure"),
        (RateLimitPolicy, "rate_limit"),
        (ChunkPolicy, "chunk"),
    )
    for cls, kind in kinds:
        if isinstance(policy, cls):
            return kind
    raise ValueError(f"a {type(policy).__name__} cannot be carried by a spec")


def policy_to_data(policy: AnyPolicy) -> dict[str, JsonValue]:
    """The policy's ``to_dict`` form, with float fields spelled as floats."""
    return normalize_policy_data(policy_kind(policy), policy.to_dict())


def normalize_policy_data(kind: PolicyKind, data: Mapping[str, object]) -> dict[str, JsonValue]:
    """Validate by building the policy, then return its full dict form (defaults filled in).

    One meaning has one spelling, so equal policies hash equally (``10`` and ``10.0`` tokens
    per second are the same rate).
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"a {kind} policy must be a mapping, got {type(data).__name__}")
    out: dict[str, JsonValue] = dict(build_policy(kind, data).to_dict())
    for name in _FLOAT_FIELDS.get(kind, ()):
        raw = out[name]
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            out[name] = float(raw)
    return out
