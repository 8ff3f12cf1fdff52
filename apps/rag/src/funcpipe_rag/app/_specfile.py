"""Loading, checking and showing pipeline specs (``--spec FILE``, ``spec show|validate|hash``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from funcpipe.async_plan import AsyncPlan, async_pure
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.specs import DEFAULT_MAX_BYTES, Format, PipelineSpec, parse, reconstruct_pipeline

from funcpipe_rag.adapters import MemoryIndex
from funcpipe_rag.domain import EmbedderId, Vector
from funcpipe_rag.pipelines import (
    ALLOW_LIST,
    DEFAULT_SPEC,
    IngestEnv,
    check_stage_types,
    registry_for,
)


def spec_format(path: Path) -> Format:
    """YAML for .yaml/.yml files, JSON otherwise."""
    return "yaml" if path.suffix.lower() in (".yaml", ".yml") else "json"


def read_spec(path: Path | None, *, reseal: bool = False) -> Result[PipelineSpec, ErrInfo]:
    """The spec in ``path`` (YAML for .yaml/.yml, else JSON), or the default spec.

    ``reseal`` recomputes the file's hashes (after a deliberate edit) instead of checking them.
    """
    if path is None:
        return Ok(DEFAULT_SPEC)
    try:
        size = path.stat().st_size
        if size > DEFAULT_MAX_BYTES:
            msg = f"{path}: spec is larger than {DEFAULT_MAX_BYTES} bytes"
            return Err(ErrInfo(codes.INVALID_SPEC, msg, stage="spec"))
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return Err(
            ErrInfo(codes.INVALID_SPEC, f"{path}: cannot read the spec ({exc})", stage="spec")
        )
    parsed = parse(text, spec_format(path), reseal=reseal)
    if isinstance(parsed, Err):
        e = parsed.error
        return Err(ErrInfo(e.code, f"{path}: {e.msg}", "spec", e.path, e.cause, e.ctx))
    return check_spec(parsed.value)


class _NoEmbedder:
    """Stands in for the embedder while a spec is only checked (nothing is embedded)."""

    @property
    def identity(self) -> EmbedderId:
        return EmbedderId("check", 1)

    def embed(self, texts: Sequence[str]) -> AsyncPlan[list[Vector]]:
        return async_pure([])


def check_spec(spec: PipelineSpec) -> Result[PipelineSpec, ErrInfo]:
    """The spec if this app can run it: allowed ops, known ids and versions, valid params."""
    env = IngestEnv(MemoryIndex(), _NoEmbedder(), spec.version, {})
    built = reconstruct_pipeline(spec, registry_for(env), allow_list=ALLOW_LIST)
    checked: Result[object, ErrInfo] = built
    if isinstance(built, Ok):
        checked = check_stage_types([op.func_id for op in spec.ops])
    if isinstance(checked, Err):
        e = checked.error
        return Err(ErrInfo(e.code, f"spec {spec.name!r}: {e.msg}", "spec", e.path, e.cause, e.ctx))
    return Ok(spec)
