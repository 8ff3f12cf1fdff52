"""Policies as data: the kinds a spec can carry and their validated dict form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, TypeAlias

from funcpipe.policies import (
    BackpressurePolicy,
    ChunkPolicy,
    CircuitBreaker,
    RateLimitPolicy,
    RetryBudget,
    RetryPolicy,
    TimeoutPolicy,
)
from pydantic import JsonValue

from ._ids import is_id
from ._sizes import DEFAULT_SIZE, NamedSize, SizeFn

PolicyKind = Literal[
    "retry", "timeout", "backpressure", "rate_limit", "chunk", "retry_budget", "circuit_breaker"
]
POLICY_KINDS: tuple[PolicyKind, ...] = (
    "retry",
    "timeout",
    "backpressure",
    "rate_limit",
    "chunk",
    "retry_budget",
    "circuit_breaker",
)

AnyPolicy: TypeAlias = (
    RetryPolicy
    | TimeoutPolicy
    | BackpressurePolicy
    | RateLimitPolicy
    | ChunkPolicy[object]
    | RetryBudget
    | CircuitBreaker
)

_FLOAT_FIELDS: dict[PolicyKind, tuple[str, ...]] = {
    "retry": ("jitter_factor",),
    "rate_limit": ("tokens_per_second",),
    "retry_budget": ("ratio", "min_per_s", "window_s"),
    "circuit_breaker": ("window_s", "reset_timeout_s"),
}


SIZE_KEY = "size"
"""The key of a chunk policy's data that names its size function (a ``NamedSize`` id)."""

_DEFAULT_SIZE_FN = ChunkPolicy[object]().size_fn


def split_size(kind: PolicyKind, data: Mapping[str, object]) -> tuple[Mapping[str, object], str]:
    """A policy's data without its size id, and that id (``count`` when none is named).

    Only a chunk policy names a size; its value must be spelled as an id (``ValueError``).
    """
    if kind != "chunk" or SIZE_KEY not in data:
        return data, DEFAULT_SIZE
    size = data[SIZE_KEY]
    if not is_id(size):
        raise ValueError(f"ChunkPolicy.size must be the id of a named size function, got {size!r}")
    return {k: v for k, v in data.items() if k != SIZE_KEY}, size


def build_policy(
    kind: PolicyKind, data: Mapping[str, object], size_fn: SizeFn | None = None
) -> AnyPolicy:
    """Build the policy object (a chunk policy with ``size_fn``); bad data raises ``ValueError``.

    ``data`` holds no size id (see ``split_size``).
    """
    try:
        if kind == "retry":
            return RetryPolicy.from_dict(data)
        if kind == "timeout":
            return TimeoutPolicy.from_dict(data)
        if kind == "backpressure":
            return BackpressurePolicy.from_dict(data)
        if kind == "rate_limit":
            return RateLimitPolicy.from_dict(data)
        if kind == "retry_budget":
            return RetryBudget.from_dict(data)
        if kind == "circuit_breaker":
            return CircuitBreaker.from_dict(data)
        return ChunkPolicy[object].from_dict(data, size_fn or _DEFAULT_SIZE_FN)
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
        (RetryBudget, "retry_budget"),
        (CircuitBreaker, "circuit_breaker"),
    )
    for cls, kind in kinds:
        if isinstance(policy, cls):
            return kind
    raise ValueError(f"a {type(policy).__name__} cannot be carried by a spec")


def policy_to_data(policy: AnyPolicy) -> dict[str, JsonValue]:
    """The policy's ``to_dict`` form, with float fields spelled as floats.

    A chunk policy's ``size_fn`` must be the default (1 per item) or a ``NamedSize``, which
    is written as its id; other code raises ``ValueError``.
    """
    data: dict[str, object] = dict(policy.to_dict())
    if isinstance(policy, ChunkPolicy) and policy.size_fn is not _DEFAULT_SIZE_FN:
        if not isinstance(policy.size_fn, NamedSize):
            raise ValueError(
                "ChunkPolicy.size_fn is code and cannot travel in a spec; use the default, "
                "a built-in size (SIZE_CHARS) or a NamedSize registered in the Registry"
            )
        data[SIZE_KEY] = policy.size_fn.id
    return normalize_policy_data(policy_kind(policy), data)


def normalize_policy_data(kind: PolicyKind, data: Mapping[str, object]) -> dict[str, JsonValue]:
    """Validate by building the policy, then return its full dict form (defaults filled in).

    One meaning has one spelling, so equal policies hash equally (``10`` and ``10.0`` tokens
    per second are the same rate; a chunk policy's ``"size": "count"`` is left out). A chunk
    policy keeps its ``size`` id; whether that id exists is checked at reconstruction.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"a {kind} policy must be a mapping, got {type(data).__name__}")
    rest, size = split_size(kind, data)
    out: dict[str, JsonValue] = dict(build_policy(kind, rest).to_dict())
    for name in _FLOAT_FIELDS.get(kind, ()):
        raw = out[name]
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            out[name] = float(raw)
    if size != DEFAULT_SIZE:  # the default is left out: one spelling, and older hashes hold
        out[SIZE_KEY] = size
    return out
