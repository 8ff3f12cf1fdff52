"""Typed stages: one op of a spec, its policies resolved, applied to a typed function.

``resolve_ops`` checks a spec against a registry and an allow-list and builds each op's
policies, with the codes of ``reconstruct_pipeline``, without calling any factory. The stage
builders then turn a function of the op's kind into a typed stream transformer, so a caller
who knows its stages composes them with full static types
(``AsyncGen[A] -> AsyncGen[B] -> ...``) while every policy still comes from the spec:

- ``map_stage``: rate limit (if any) on the input, retry/timeout per item, bounded map with
  the op's backpressure (sequential without one), then the op's error policy.
- ``flat_map_stage``: rate limit, flat map, error policy.
- ``batch_stage``: chunk by the op's chunk policy, rate limit per batch, retry/timeout per
  batch, bounded map over batches, flatten (a batch gives per-item Results), error policy.

``resilient=False`` leaves retry and timeout to the function itself: a function whose unit of
failure is smaller than the item (each request of a batch) applies them there, once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

from funcpipe.async_plan import AsyncPlan, resilient_mapper
from funcpipe.policies import (
    BackpressurePolicy,
    ChunkPolicy,
    RateLimitPolicy,
    RealSleeper,
    ResilienceEnv,
    RetryPolicy,
    Sleeper,
    TimeoutCtx,
    TimeoutPolicy,
)
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import (
    AsyncGen,
    async_gen_bounded_map,
    async_gen_chunk,
    async_gen_flat_map,
    async_gen_flatten,
    async_gen_map_action,
    async_gen_rate_limited,
)

from ._error_policy import apply_error_policy
from ._errors import invalid
from ._models import OpSpec, PipelineSpec
from ._policy_data import SIZE_KEY, build_policy, split_size
from ._registry import Registry, RegistryEntry
from ._sizes import BUILTIN_SIZES, SizeFn

A = TypeVar("A")
B = TypeVar("B")


@dataclass(frozen=True, slots=True)
class ResolvedOp:
    """An op checked against its registry entry, with its policies built from the spec."""

    op: OpSpec
    entry: RegistryEntry
    retry: RetryPolicy | None = None
    timeout: TimeoutPolicy | None = None
    backpressure: BackpressurePolicy | None = None
    rate_limit: RateLimitPolicy | None = None
    chunk: ChunkPolicy[object] | None = None


@dataclass(frozen=True, slots=True)
class StageEnv:
    """What drives a stage's policies: retries and rate limits (``resilience``), the age of
    batches (``sleeper``) and timeouts (``timeout_ctx``); defaults: the running loop's time."""

    resilience: ResilienceEnv | None = None
    sleeper: Sleeper | None = None
    timeout_ctx: TimeoutCtx | None = None


def resolve_ops(
    spec: PipelineSpec, registry: Registry, *, allow_list: Collection[str]
) -> Result[tuple[ResolvedOp, ...], ErrInfo]:
    """Every op of ``spec`` checked and its policies built, or the first problem: id not
    allowed (UNALLOWED_OP), not registered (UNKNOWN_OP), registered with another kind
    (INVALID_SPEC) or version (VERSION_MISMATCH), a chunk size that is neither built in nor
    an allowed registered size (UNALLOWED_OP / UNKNOWN_OP). No factory is called."""
    allowed = frozenset(allow_list)
    out: list[ResolvedOp] = []
    for i, op in enumerate(spec.ops):
        res = _resolve(spec, i, op, registry, allowed)
        if isinstance(res, Err):
            return res
        out.append(res.value)
    return Ok(tuple(out))


def _resolve(
    spec: PipelineSpec, i: int, op: OpSpec, registry: Registry, allowed: frozenset[str]
) -> Result[ResolvedOp, ErrInfo]:
    path: tuple[str | int, ...] = ("ops", i, "func_id")
    if op.func_id not in allowed:
        msg = f"ops.{i}.func_id: {op.func_id!r} is not in the allow-list"
        return Err(ErrInfo(codes.UNALLOWED_OP, msg, stage="specs", path=path))
    entry = registry.get(op.func_id)
    if entry is None:
        msg = f"ops.{i}.func_id: {op.func_id!r} is not registered"
        return Err(ErrInfo(codes.UNKNOWN_OP, msg, stage="specs", path=path))
    if entry.kind != op.kind:
        msg = f"ops.{i}.kind: {op.func_id!r} is registered as {entry.kind}, the spec says {op.kind}"
        return Err(invalid(msg, reason="kind", path=("ops", i, "kind")))
    if entry.version != op.func_version:
        return Err(
            ErrInfo(
                codes.VERSION_MISMATCH,
                f"ops.{i}.func_version: spec built against {op.func_id}@{op.func_version}, "
                f"registry has {op.func_id}@{entry.version}",
                stage="specs",
                path=("ops", i, "func_version"),
                ctx={"spec": op.func_version, "registry": entry.version},
            )
        )
    built: dict[str, object] = {}
    for kind, slot in op.policies.items():
        data = spec.policies[slot].config if isinstance(slot, str) else slot
        assert data is not None
        rest, size_id = split_size(kind, data)
        where = (
            ("policies", slot, "config") if isinstance(slot, str) else ("ops", i, "policies", kind)
        )
        size = _resolve_size(size_id, (*where, SIZE_KEY), registry, allowed)
        if isinstance(size, Err):
            return size
        built[kind] = build_policy(kind, rest, size.value)
    return Ok(
        ResolvedOp(
            op=op,
            entry=entry,
            retry=cast(RetryPolicy | None, built.get("retry")),
            timeout=cast(TimeoutPolicy | None, built.get("timeout")),
            backpressure=cast(BackpressurePolicy | None, built.get("backpressure")),
            rate_limit=cast(RateLimitPolicy | None, built.get("rate_limit")),
            chunk=cast(ChunkPolicy[object] | None, built.get("chunk")),
        )
    )


def _resolve_size(
    size_id: str, path: tuple[str | int, ...], registry: Registry, allowed: frozenset[str]
) -> Result[SizeFn, ErrInfo]:
    """A built-in size, or a registered one whose id is allowed; never anything else."""
    builtin = BUILTIN_SIZES.get(size_id)
    if builtin is not None:
        return Ok(builtin)
    where = ".".join(map(str, path))
    if size_id not in allowed:
        msg = f"{where}: size {size_id!r} is not in the allow-list"
        return Err(ErrInfo(codes.UNALLOWED_OP, msg, stage="specs", path=path))
    named = registry.sizes.get(size_id)
    if named is None:
        known = ", ".join(sorted({*BUILTIN_SIZES, *registry.sizes}))
        msg = f"{where}: size {size_id!r} is not registered (known: {known})"
        return Err(ErrInfo(codes.UNKNOWN_OP, msg, stage="specs", path=path))
    return Ok(named)


def _with_resilience(
    fn: Callable[[A], AsyncPlan[B]], r: ResolvedOp, env: StageEnv, resilient: bool
) -> Callable[[A], AsyncPlan[B]]:
    if not resilient or (r.retry is None and r.timeout is None):
        return fn
    retry = r.retry if r.retry is not None else RetryPolicy()
    return resilient_mapper(fn, retry, r.timeout, env.resilience, timeout_ctx=env.timeout_ctx)


def _limited(src: AsyncGen[A], r: ResolvedOp, env: StageEnv) -> AsyncGen[A]:
    if r.rate_limit is None:
        return src
    return async_gen_rate_limited(src, r.rate_limit, env=env.resilience)


def _mapped(src: AsyncGen[A], fn: Callable[[A], AsyncPlan[B]], r: ResolvedOp) -> AsyncGen[B]:
    if r.backpressure is None:
        return async_gen_map_action(src, fn)
    return async_gen_bounded_map(src, fn, r.backpressure)


def map_stage(
    r: ResolvedOp,
    fn: Callable[[A], AsyncPlan[B]],
    env: StageEnv = StageEnv(),
    *,
    resilient: bool = True,
) -> Callable[[AsyncGen[A]], AsyncGen[B]]:
    """A Map (or Sink) op over ``fn``: rate limit, per-item retry/timeout (``resilient``),
    bounded map, error policy."""
    item = _with_resilience(fn, r, env, resilient)

    def _stage(src: AsyncGen[A]) -> AsyncGen[B]:
        return apply_error_policy(_mapped(_limited(src, r, env), item, r), r.op.error_policy)

    return _stage


def flat_map_stage(
    r: ResolvedOp, fn: Callable[[A], AsyncGen[B]], env: StageEnv = StageEnv()
) -> Callable[[AsyncGen[A]], AsyncGen[B]]:
    """A FlatMap op over ``fn``: rate limit, flat map, error policy."""

    def _stage(src: AsyncGen[A]) -> AsyncGen[B]:
        return apply_error_policy(async_gen_flat_map(_limited(src, r, env), fn), r.op.error_policy)

    return _stage


def batch_stage(
    r: ResolvedOp,
    fn: Callable[[list[A]], AsyncPlan[Sequence[Result[B, ErrInfo]]]],
    env: StageEnv = StageEnv(),
    *,
    resilient: bool = True,
) -> Callable[[AsyncGen[A]], AsyncGen[B]]:
    """A BatchMap op over ``fn`` (one Result per item of its batch): chunk, rate limit per
    batch, per-batch retry/timeout (``resilient``), bounded map over batches, flatten, error
    policy. ``ValueError`` when the op has no chunk policy (a spec's BatchMap always has)."""
    if r.chunk is None:
        raise ValueError(f"batch_stage: op {r.op.func_id!r} has no chunk policy")
    chunk = cast(ChunkPolicy[A], r.chunk)
    sleeper = env.sleeper if env.sleeper is not None else RealSleeper()
    batch = _with_resilience(fn, r, env, resilient)

    def _stage(src: AsyncGen[A]) -> AsyncGen[B]:
        batches = async_gen_chunk(src, chunk)(sleeper)
        results = _mapped(_limited(batches, r, env), batch, r)
        return apply_error_policy(async_gen_flatten(results), r.op.error_policy)

    return _stage
