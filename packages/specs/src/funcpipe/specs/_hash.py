"""Canonical content hashes of spec models, sealing and verification."""

from __future__ import annotations

import hashlib
from typing import TypeAlias, TypeVar

from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from pydantic import BaseModel

from ._json import canonical_json
from ._models import OpSpec, PipelineSpec

M = TypeVar("M", bound=BaseModel)
_Exclude: TypeAlias = dict[str | int, "bool | _Exclude"]


def _version_exclude(model: BaseModel) -> _Exclude:
    """Pydantic ``exclude`` for every ``version`` field of ``model`` and the models inside it."""
    out: _Exclude = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if name == "version":
            out[name] = True
        elif isinstance(value, BaseModel):
            sub = _version_exclude(value)
            if sub:
                out[name] = sub
        elif isinstance(value, tuple | list | dict):
            pairs = value.items() if isinstance(value, dict) else enumerate(value)
            subs: _Exclude = {}
            for key, item in pairs:
                if isinstance(item, BaseModel) and (s := _version_exclude(item)):
                    subs[key] = s
            if subs:
                out[name] = subs
    return out


def canonical_json_of(model: BaseModel) -> str:
    """The model as sorted-key compact JSON, without any ``version`` field (nested ones too)."""
    payload = model.model_dump(mode="json", exclude=_version_exclude(model))  # type: ignore[arg-type]
    return canonical_json(payload)


def canonical_hash(model: BaseModel) -> str:
    """sha256 (hex) of the model's canonical JSON, ``version`` fields excluded.

    Laws: independent of key order and whitespace of the text it was parsed from; changes when
    any other field changes; an op's hash does not depend on its own ``version``.
    """
    return hashlib.sha256(canonical_json_of(model).encode("utf-8")).hexdigest()


def seal(spec: PipelineSpec) -> PipelineSpec:
    """The same spec with every op's ``version`` and the spec's ``version`` set to their hashes."""
    ops = tuple(op.model_copy(update={"version": canonical_hash(op)}) for op in spec.ops)
    with_ops = spec.model_copy(update={"ops": ops})
    return with_ops.model_copy(update={"version": canonical_hash(with_ops)})


def verify(spec: PipelineSpec) -> Result[PipelineSpec, ErrInfo]:
    """``Ok(spec)`` when every hash matches its content.

    Errors: MISSING_FIELD (a version is empty), HASH_MISMATCH (content and hash disagree).
    """
    for i, op in enumerate(spec.ops):
        bad = _check_hash(op, ("ops", i, "version"), "the op", f"op {op.name!r}")
        if bad is not None:
            return Err(bad)
    bad = _check_hash(spec, ("version",), "the spec", f"spec {spec.name!r}")
    return Ok(spec) if bad is None else Err(bad)


def _check_hash(
    model: OpSpec | PipelineSpec, path: tuple[str | int, ...], it: str, named: str
) -> ErrInfo | None:
    where = ".".join(map(str, path))
    if not model.version:
        return ErrInfo(codes.MISSING_FIELD, f"{where}: {it} has no hash", path=path, stage="specs")
    actual = canonical_hash(model)
    if actual == model.version:
        return None
    return ErrInfo(
        codes.HASH_MISMATCH,
        f"{where}: {named} does not match its hash",
        path=path,
        stage="specs",
        ctx={"expected": model.version, "actual": actual},
    )
