"""Rebuilding a pipeline from its spec, with a trusted registry and an allow-list."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TypeAlias, cast

from funcpipe.async_plan import AsyncPlan
from funcpipe.policies import ResilienceEnv, Sleeper, TimeoutCtx
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen

from ._codec import spec_from_data
from ._errors import invalid
from ._json import freeze
from ._models import PipelineSpec
from ._registry import Registry
from ._stages import (
    ResolvedOp,
    StageEnv,
    batch_stage,
    flat_map_stage,
    map_stage,
    resolve_ops,
)

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

    Each op becomes: Map / Sink: rate limit (if any) on its input, then retry/timeout per item
    and a bounded map with its backpressure policy (sequential without one). FlatMap: rate
    limit, then flat map. BatchMap: chunk by its chunk policy, rate limit per batch, retry and
    timeout per batch, bounded map over batches, flatten (a batch may hold per-item Results).
    Then its error policy. ``env`` drives retries and rate limits, ``sleeper`` the age of
    batches, ``timeout_ctx`` timeouts (defaults: the running loop's time).
    """
    try:
        return _reconstruct(spec, registry, allow_list, StageEnv(env, sleeper, timeout_ctx))
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
    spec: PipelineSpec, registry: Registry, allow_list: Collection[str], env: StageEnv
) -> Result[Pipeline, ErrInfo]:
    if isinstance(allow_list, str):
        msg = "allow_list must be a collection of ids, not one string"
        return Err(ErrInfo(codes.RECONSTRUCT_FAIL, msg, stage="specs"))
    checked = _revalidate(spec)
    if isinstance(checked, Err):
        return checked
    valid = checked.value
    resolved = resolve_ops(valid, registry, allow_list=allow_list)
    if isinstance(resolved, Err):
        return resolved
    stages: list[Stage] = []
    for i, r in enumerate(resolved.value):
        built = _build_stage(i, r, env)
        if isinstance(built, Err):
            return built
        stages.append(built.value)
    return Ok(Pipeline(valid, tuple(stages)))


def _build_stage(i: int, r: ResolvedOp, env: StageEnv) -> Result[Stage, ErrInfo]:
    try:
        fn: object = r.entry.factory(cast(dict[str, object], freeze(r.op.params)))
    except Exception as exc:
        return _failed(exc, f"ops.{i}: factory {r.entry.id!r} failed", ("ops", i))
    if not callable(fn):
        msg = f"ops.{i}: factory {r.entry.id!r} returned a {type(fn).__name__}, not a callable"
        return Err(ErrInfo(codes.RECONSTRUCT_FAIL, msg, stage="specs", path=("ops", i)))
    if r.op.kind == "FlatMap":
        return Ok(flat_map_stage(r, cast(Callable[[object], AsyncGen[object]], fn), env))
    if r.op.kind == "BatchMap":
        # a registered batch function gives per-item Results or plain values (flatten keeps a
        # Result as it is and wraps any other value in Ok)
        batch = cast(Callable[[list[object]], AsyncPlan[Sequence[Result[object, ErrInfo]]]], fn)
        return Ok(batch_stage(r, batch, env))
    return Ok(map_stage(r, cast(_ItemFn, fn), env))
