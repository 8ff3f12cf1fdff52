"""Loading, checking and showing pipeline specs (``--spec FILE``, ``spec show|validate|hash``)."""

from __future__ import annotations

from pathlib import Path

from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.specs import DEFAULT_MAX_BYTES, Format, PipelineSpec, parse

from funcpipe_rag.domain import Stage
from funcpipe_rag.pipelines import DEFAULT_SETTINGS, IngestSettings, ingest_settings


def spec_format(path: Path) -> Format:
    """YAML for .yaml/.yml files, JSON otherwise."""
    return "yaml" if path.suffix.lower() in (".yaml", ".yml") else "json"


def read_spec(path: Path | None, *, reseal: bool = False) -> Result[IngestSettings, ErrInfo]:
    """The spec in ``path`` (YAML for .yaml/.yml, else JSON), or the default spec, read once
    into its typed settings (``check_spec``).

    ``reseal`` recomputes the file's hashes (after a deliberate edit) instead of checking them.
    """
    if path is None:
        return Ok(DEFAULT_SETTINGS)
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


def check_spec(spec: PipelineSpec) -> Result[IngestSettings, ErrInfo]:
    """The spec's typed settings if this app can run it: allowed ops, known ids and versions,
    valid params, the ops in the order of the typed ingest, a valid search config. Nothing is
    built; every reader (the run, the Dask workers, the service) takes these settings."""
    checked = ingest_settings(spec)
    if isinstance(checked, Err):
        e = checked.error
        return Err(
            ErrInfo(e.code, f"spec {spec.name!r}: {e.msg}", Stage.SPECS, e.path, e.cause, e.ctx)
        )
    return checked
