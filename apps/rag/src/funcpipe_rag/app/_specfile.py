"""Loading, checking and showing pipeline specs (``--spec FILE``, ``spec show|validate|hash``)."""

from __future__ import annotations

from pathlib import Path

from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.specs import DEFAULT_MAX_BYTES, Format, PipelineSpec, parse

from funcpipe_rag.domain import Stage
from funcpipe_rag.pipelines import DEFAULT_SPEC, check_ingest_spec


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
            return Err(ErrInfo(codes.INVALID_SPEC, msg, stage=Stage.SPECS))
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return Err(
            ErrInfo(codes.INVALID_SPEC, f"{path}: cannot read the spec ({exc})", stage=Stage.SPECS)
        )
    parsed = parse(text, spec_format(path), reseal=reseal)
    if isinstance(parsed, Err):
        e = parsed.error
        return Err(ErrInfo(e.code, f"{path}: {e.msg}", Stage.SPECS, e.path, e.cause, e.ctx))
    return check_spec(parsed.value)


def check_spec(spec: PipelineSpec) -> Result[PipelineSpec, ErrInfo]:
    """The spec if this app can run it: allowed ops, known ids and versions, valid params,
    fitting stage types. Nothing is built (the run reconstructs the spec once)."""
    checked = check_ingest_spec(spec)
    if isinstance(checked, Err):
        e = checked.error
        return Err(
            ErrInfo(e.code, f"spec {spec.name!r}: {e.msg}", Stage.SPECS, e.path, e.cause, e.ctx)
        )
    return Ok(spec)
