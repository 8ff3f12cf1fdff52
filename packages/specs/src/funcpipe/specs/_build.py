"""From a pipeline built in code to its spec: op builders and ``pipeline_spec``. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

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

from ._hash import canonical_hash, seal
from ._json import to_json_data
from ._models import ErrorPolicy, NamedPolicy, OpKind, OpSpec, PipelineSpec
from ._policy_data import AnyPolicy, policy_kind, policy_to_data
from ._registry import RegistryEntry

Policy: TypeAlias = AnyPolicy
"""Any policy object a spec can carry."""


def _slot(policy: object, kind: str) -> JsonValue:
    if policy is None or isinstance(policy, str):
        return policy
    data = policy_to_data(policy)  # type: ignore[arg-type]
    if policy_kind(policy) != kind:
        raise ValueError(f"{kind} expects a {kind} policy, got {type(policy).__name__}")
    return data


def _op(
    kind: OpKind,
    entry: RegistryEntry,
    name: str | None,
    params: Mapping[str, object] | None,
    error_policy: ErrorPolicy,
    policies: Mapping[str, object],
) -> OpSpec:
    if entry.kind != kind:
        raise ValueError(f"registry entry {entry.id!r} is a {entry.kind}, not a {kind}")
    data = {
        "kind": kind,
        "name": name if name is not None else entry.id,
        "func_id": entry.id,
        "func_version": entry.version,
        "error_policy": error_policy,
        "params": to_json_data(params or {}, "params"),
        "policies": {k: _slot(v, k) for k, v in policies.items() if v is not None},
    }
    op = OpSpec.model_validate(data)
    return op.model_copy(update={"version": canonical_hash(op)})


def _guards(rate_limit: object, retry_budget: object, circuit_breaker: object) -> dict[str, object]:
    return {
        "rate_limit": rate_limit,
        "retry_budget": retry_budget,
        "circuit_breaker": circuit_breaker,
    }


def map_op(
    entry: RegistryEntry,
    *,
    name: str | None = None,
    params: Mapping[str, object] | None = None,
    error_policy: ErrorPolicy = "collect",
    retry: RetryPolicy | str | None = None,
    timeout: TimeoutPolicy | str | None = None,
    backpressure: BackpressurePolicy | str | None = None,
    rate_limit: RateLimitPolicy | str | None = None,
    retry_budget: RetryBudget | str | None = None,
    circuit_breaker: CircuitBreaker | str | None = None,
) -> OpSpec:
    """A Map op of ``entry`` (policies as objects or names of shared policies), hashed.

    ``retry_budget`` and ``circuit_breaker`` are shared by every item of the op when it runs.

    ``name`` defaults to the entry id; ``params`` must be plain JSON data (``SecretRef`` for
    secrets). Misuse raises ``ValueError``.
    """
    pol = {"retry": retry, "timeout": timeout, "backpressure": backpressure}
    return _op(
        "Map",
        entry,
        name,
        params,
        error_policy,
        {**pol, **_guards(rate_limit, retry_budget, circuit_breaker)},
    )


def sink_op(
    entry: RegistryEntry,
    *,
    name: str | None = None,
    params: Mapping[str, object] | None = None,
    error_policy: ErrorPolicy = "collect",
    retry: RetryPolicy | str | None = None,
    timeout: TimeoutPolicy | str | None = None,
    backpressure: BackpressurePolicy | str | None = None,
    rate_limit: RateLimitPolicy | str | None = None,
    retry_budget: RetryBudget | str | None = None,
    circuit_breaker: CircuitBreaker | str | None = None,
) -> OpSpec:
    """A Sink op of ``entry`` (an idempotent write), hashed; see ``map_op``."""
    pol = {"retry": retry, "timeout": timeout, "backpressure": backpressure}
    return _op(
        "Sink",
        entry,
        name,
        params,
        error_policy,
        {**pol, **_guards(rate_limit, retry_budget, circuit_breaker)},
    )


def flat_map_op(
    entry: RegistryEntry,
    *,
    name: str | None = None,
    params: Mapping[str, object] | None = None,
    error_policy: ErrorPolicy = "collect",
    rate_limit: RateLimitPolicy | str | None = None,
    retry_budget: RetryBudget | str | None = None,
    circuit_breaker: CircuitBreaker | str | None = None,
) -> OpSpec:
    """A FlatMap op of ``entry``, hashed; see ``map_op``."""
    return _op("FlatMap", entry, name, params, error_policy, {"rate_limit": rate_limit})


def batch_map_op(
    entry: RegistryEntry,
    *,
    chunk: ChunkPolicy[object] | str,
    name: str | None = None,
    params: Mapping[str, object] | None = None,
    error_policy: ErrorPolicy = "collect",
    retry: RetryPolicy | str | None = None,
    timeout: TimeoutPolicy | str | None = None,
    backpressure: BackpressurePolicy | str | None = None,
    rate_limit: RateLimitPolicy | str | None = None,
    retry_budget: RetryBudget | str | None = None,
    circuit_breaker: CircuitBreaker | str | None = None,
) -> OpSpec:
    """A BatchMap op of ``entry`` batching by ``chunk``, hashed; see ``map_op``.

    ``chunk.size_fn`` is the default (1 per item) or a ``NamedSize`` (``SIZE_CHARS``, or one
    the receiving registry holds); any other function raises ``ValueError``.
    """
    pol = {"retry": retry, "timeout": timeout, "backpressure": backpressure, "chunk": chunk}
    return _op(
        "BatchMap",
        entry,
        name,
        params,
        error_policy,
        {**pol, **_guards(rate_limit, retry_budget, circuit_breaker)},
    )


def pipeline_spec(
    name: str,
    ops: Sequence[OpSpec],
    *,
    policies: Mapping[str, Policy] | None = None,
    resources: Mapping[str, object] | None = None,
) -> PipelineSpec:
    """The sealed spec of a pipeline: every op's and the spec's ``version`` hash filled in.

    ``policies`` are the shared policies ops may name. Misuse raises ``ValueError``.
    """
    named = {
        key: NamedPolicy.model_validate(
            {"kind": policy_kind(p), "config": _slot(p, policy_kind(p))}
        )
        for key, p in (policies or {}).items()
    }
    spec = PipelineSpec.model_validate(
        {
            "name": name,
            "ops": list(ops),
            "policies": named,
            "resources": to_json_data(resources or {}, "resources"),
        }
    )
    return seal(spec)
