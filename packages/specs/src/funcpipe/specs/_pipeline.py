"""Rebuilding a pipeline from its spec, with a trusted registry and an allow-list."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import TypeAlias, cast

from funcpipe.async_plan import (
    AsyncPlan,
    SharedCircuitBreaker,
    SharedRetryBudget,
    resilient_mapper,
)
from funcpipe.policies import (
    BackpressurePolicy,
    ChunkPolicy,
    CircuitBreaker,
    RateLimitPolicy,
    RealSleeper,
    ResilienceEnv,
    RetryBudget,
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

from ._codec import spec_from_data
from ._error_policy import apply_error_policy
from ._errors import invalid
from ._json import freeze
from ._models import OpSpec, PipelineSpec
from ._policy_data import SIZE_KEY, build_policy, split_size
from ._registry import Registry, RegistryEntry
from ._sizes import BUILTIN_SIZES, SizeFn

Stage: TypeAlias = Callable[[AsyncGen[object]], AsyncGen[object]]
"""One op as a stream transformer."""

_ItemFn: TypeAlias = Callable[[object], AsyncPlan[object]]


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A pipeline rebuilt from ``spec``: one stage per op, in order.

    ``describe(source)`` only builds the stream; nothing runs until it is iterated, and each
    iteration runs afresh (replayable).
    """

    spec: PipelineSpec
    stages: tuple[Stage, ...]

    @property
    def hash(self) -> str:
        """The canonical hash of the spec it was built from."""
        return self.spec.version

    def describe(self, source: AsyncGen[object]) -> AsyncGen[object]:
        """The stream of ``source`` through every op, in spec order."""
        out = source
        for stage in self.stages:
            out = stage(out)
        return out


@dataclass(frozen=True, slots=True)
class _Resolved:
    op: OpSpec
    entry: RegistryEntry
    retry: RetryPolicy | None
    timeout: TimeoutPolicy | None
    backpressure: BackpressurePolicy | None
    rate_limit: RateLimitPolicy | None
    chunk: ChunkPolicy[object] | None
    retry_budget: RetryBudget | None
    circuit_breaker: CircuitBreaker | None


@dataclass(frozen=True, slots=True)
class _Env:
    resilience: ResilienceEnv | None
    sleeper: Sleeper | None
    timeout_ctx: TimeoutCtx | None


def reconstruct_pipeline(
    spec: PipelineSpec,
    registry: Registry,
    *,
    allow_list: Collection[str],
    env: ResilienceEnv | None = None,
    sleeper: Sleeper | None = None,
    timeout_ctx: TimeoutCtx | None = None,
) -> Result[Pipeline, ErrInfo]:
    """Rebuild ``spec`` from ``registry``; only ids in ``allow_list`` may be used.

    Every check runs before any factory is called: the spec is validated again and its hashes
    verified (INVALID_SPEC, MISSING_FIELD, HASH_MISMATCH), then per op: id not allowed
    (UNALLOWED_OP), not registered (UNKNOWN_OP), registered with another kind (INVALID_SPEC) or
    another version (VERSION_MISMATCH); then the size a chunk policy names: built in
    (``count``, ``chars``), else it must be allowed (UNALLOWED_OP) and in ``registry.sizes``
    (UNKNOWN_OP). A factory that raises or returns a non-callable, and
    any other unexpected exception, gives RECONSTRUCT_FAIL; nothing is raised.

    Each op becomes: Map / Sink: rate limit (if any) on its input, then circuit breaker,
    timeout, retry and retry budget per item (one breaker and one budget per op, shared by its
    items; see ``async_with_resilience`` for the order) and a bounded map with its backpressure
    policy (sequential without one). FlatMap: rate limit, then flat map. BatchMap: chunk by its
    chunk policy, rate limit per batch, the same guards per batch, bounded map over batches,
    flatten (a batch may hold per-item Results).
    Then its error policy. ``env`` drives retries and rate limits, ``sleeper`` the age of
    batches, ``timeout_ctx`` timeouts (defaults: the running loop's time).
    """
    try:
        return _reconstruct(spec, registry, allow_list, _Env(env, sleeper, timeout_ctx))
    except Exception as exc:
        return _failed(exc, "reconstruction failed")


def _failed(exc: Exception, what: str, path: tuple[str | int, ...] = ()) -> Err[ErrInfo]:
    """RECONSTRUCT_FAIL for an exception, named in a one-line message."""
    msg = f"{what}: {type(exc).__name__}: {exc}"
    return Err(
        ErrInfo.from_exception(exc, code=codes.RECONSTRUCT_FAIL, msg=msg, stage="specs", path=path)
    )


def _revalidate(spec: object) -> Result[PipelineSpec, ErrInfo]:
    """Validate again: a model changed through ``model_copy(update=...)`` skipped validation."""
    if not isinstance(spec, PipelineSpec):
        return Err(invalid(f"expected a PipelineSpec, got {type(spec).__name__}"))
    try:
        data = spec.model_dump(mode="json", warnings=False)
    except Exception as exc:
        return Err(invalid(f"spec cannot be read as data: {exc}"))
    return spec_from_data(data)


def _reconstruct(
    spec: PipelineSpec, registry: Registry, allow_list: Collection[str], env: _Env
) -> Result[Pipeline, ErrInfo]:
    if isinstance(allow_list, str):
        msg = "allow_list must be a collection of ids, not one string"
        return Err(ErrInfo(codes.RECONSTRUCT_FAIL, msg, stage="specs"))
    checked = _revalidate(spec)
    if isinstance(checked, Err):
        return checked
    valid = checked.value
    allowed = frozenset(allow_list)
    resolved: list[_Resolved] = []
    for i, op in enumerate(valid.ops):
        res = _resolve(valid, i, op, registry, allowed)
        if isinstance(res, Err):
            return res
        resolved.append(res.value)
    stages: list[Stage] = []
    for i, r in enumerate(resolved):
        built = _build_stage(i, r, env)
        if isinstance(built, Err):
            return built
        stages.append(built.value)
    return Ok(Pipeline(valid, tuple(stages)))


def _resolve(
    spec: PipelineSpec, i: int, op: OpSpec, registry: Registry, allowed: frozenset[str]
) -> Result[_Resolved, ErrInfo]:
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
        _Resolved(
            op=op,
            entry=entry,
            retry=cast(RetryPolicy | None, built.get("retry")),
            timeout=cast(TimeoutPolicy | None, built.get("timeout")),
            backpressure=cast(BackpressurePolicy | None, built.get("backpressure")),
            rate_limit=cast(RateLimitPolicy | None, built.get("rate_limit")),
            chunk=cast(ChunkPolicy[object] | None, built.get("chunk")),
            retry_budget=cast(RetryBudget | None, built.get("retry_budget")),
            circuit_breaker=cast(CircuitBreaker | None, built.get("circuit_breaker")),
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


def _build_stage(i: int, r: _Resolved, env: _Env) -> Result[Stage, ErrInfo]:
    try:
        fn: object = r.entry.factory(cast(dict[str, object], freeze(r.op.params)))
    except Exception as exc:
        return _failed(exc, f"ops.{i}: factory {r.entry.id!r} failed", ("ops", i))
    if not callable(fn):
        msg = f"ops.{i}: factory {r.entry.id!r} returned a {type(fn).__name__}, not a callable"
        return Err(ErrInfo(codes.RECONSTRUCT_FAIL, msg, stage="specs", path=("ops", i)))
    if r.op.kind == "FlatMap":
        return Ok(_flat_map_stage(r, cast(Callable[[object], AsyncGen[object]], fn), env))
    item_fn = _with_resilience(cast(_ItemFn, fn), r, env)
    if r.op.kind == "BatchMap":
        return Ok(_batch_stage(r, item_fn, env))
    return Ok(_map_stage(r, item_fn, env))


def _with_resilience(fn: _ItemFn, r: _Resolved, env: _Env) -> _ItemFn:
    """Retry, timeout, budget and breaker around each item (each batch) of the op.

    The op's budget and breaker state is made here, once per rebuilt pipeline, and shared
    by every item and every run of it.
    """
    guards = (r.retry, r.timeout, r.retry_budget, r.circuit_breaker)
    if all(g is None for g in guards):
        return fn
    retry = r.retry if r.retry is not None else RetryPolicy()
    return resilient_mapper(
        fn,
        retry,
        r.timeout,
        env.resilience,
        timeout_ctx=env.timeout_ctx,
        budget=None if r.retry_budget is None else SharedRetryBudget(r.retry_budget),
        breaker=None if r.circuit_breaker is None else SharedCircuitBreaker(r.circuit_breaker),
    )


def _limited(src: AsyncGen[object], r: _Resolved, env: _Env) -> AsyncGen[object]:
    if r.rate_limit is None:
        return src
    return async_gen_rate_limited(src, r.rate_limit, env=env.resilience)


def _mapped(src: AsyncGen[object], fn: _ItemFn, r: _Resolved) -> AsyncGen[object]:
    if r.backpressure is None:
        return async_gen_map_action(src, fn)
    return async_gen_bounded_map(src, fn, r.backpressure)


def _map_stage(r: _Resolved, fn: _ItemFn, env: _Env) -> Stage:
    def _stage(src: AsyncGen[object]) -> AsyncGen[object]:
        out = _mapped(_limited(src, r, env), fn, r)
        return apply_error_policy(out, r.op.error_policy)

    return _stage


def _flat_map_stage(r: _Resolved, fn: Callable[[object], AsyncGen[object]], env: _Env) -> Stage:
    def _stage(src: AsyncGen[object]) -> AsyncGen[object]:
        out = async_gen_flat_map(_limited(src, r, env), fn)
        return apply_error_policy(out, r.op.error_policy)

    return _stage


def _batch_stage(r: _Resolved, fn: _ItemFn, env: _Env) -> Stage:
    assert r.chunk is not None
    chunk = r.chunk
    sleeper = env.sleeper if env.sleeper is not None else RealSleeper()

    def _stage(src: AsyncGen[object]) -> AsyncGen[object]:
        batches = cast(AsyncGen[object], async_gen_chunk(src, chunk)(sleeper))
        results = _mapped(_limited(batches, r, env), fn, r)
        out: AsyncGen[object] = async_gen_flatten(cast(AsyncGen[Iterable[object]], results))
        return apply_error_policy(out, r.op.error_policy)

    return _stage
