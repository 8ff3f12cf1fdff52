"""What crosses the wire between the driver and the workers: plain data only.

A task's arguments are a ``DaskJob`` (the spec as canonical JSON, the registry's import name,
the allow-list) and one partition (a key and its items); its result is a list of encoded
Results. Nothing else is sent: no closure, no live object, no pickled callable of the user's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from funcpipe.result import Err, ErrInfo, Ok, Result, codes

Plain: TypeAlias = "str | int | float | bool | list[Plain] | dict[str, Plain] | None"
"""JSON-shaped data: what a partition's items and a stage's outputs must be."""

EncodedResult: TypeAlias = dict[str, Plain]
"""``{"ok": value}`` or ``{"err": {"code", "msg", "stage", "path"}}``."""

_REGISTRY_NAME = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


@dataclass(frozen=True, slots=True)
class DaskJob:
    """A spec to run on workers: canonical JSON text, the registry to rebuild it from, the ops
    it may use.

    ``registry`` is an import name ``"package.module:attribute"`` naming a ``Registry`` (or a
    zero-argument function returning one) installed on every worker; the driver refuses a name
    outside its allowed registries before anything is sent, and the worker checks it again.
    """

    spec_json: str
    registry: str
    allow_list: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Partition:
    """A unit of work: a stable ``key`` (used in errors and task keys) and its items."""

    key: str
    items: tuple[Plain, ...]


def is_registry_name(name: str) -> bool:
    """True for ``"package.module:attribute"``; anything else is never imported."""
    return bool(_REGISTRY_NAME.match(name))


def to_plain(value: object, depth: int = 0) -> Plain:
    """``value`` as JSON-shaped data (tuples become lists); ValueError if it is not plain."""
    if depth > 64:
        raise ValueError("nested too deeply")
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [to_plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        out: dict[str, Plain] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"a mapping key of type {type(k).__name__}")
            out[k] = to_plain(v, depth + 1)
        return out
    raise ValueError(f"a value of type {type(value).__name__}")


def encode_err(e: ErrInfo) -> EncodedResult:
    path: list[Plain] = list(e.path)
    return {"err": {"code": e.code, "msg": e.msg, "stage": e.stage, "path": path}}


def encode_result(r: Result[object, ErrInfo], partition_key: str) -> EncodedResult:
    """One item's Result as plain data; an error without a key gets the partition's key."""
    if isinstance(r, Err):
        e = r.error
        return encode_err(e if e.path else ErrInfo(e.code, e.msg, e.stage, (partition_key,)))
    try:
        return {"ok": to_plain(r.value)}
    except ValueError as exc:
        return encode_err(
            ErrInfo(
                codes.INVALID_INPUT,
                f"a stage's output is not plain data ({exc})",
                stage="dask",
                path=(partition_key,),
            )
        )


def decode_result(data: Mapping[str, object], partition_key: str) -> Result[Plain, ErrInfo]:
    """The inverse of ``encode_result``; anything malformed is an UNEXPECTED error."""
    if "ok" in data:
        return Ok(to_plain(data["ok"]))
    err = data.get("err")
    if isinstance(err, Mapping):
        raw_path = err.get("path")
        path = tuple(
            p
            for p in (raw_path if isinstance(raw_path, Sequence) else ())
            if isinstance(p, str | int)
        )
        return Err(
            ErrInfo(
                str(err.get("code", codes.UNEXPECTED)),
                str(err.get("msg", "")),
                str(err.get("stage", "")),
                path or (partition_key,),
            )
        )
    return Err(
        ErrInfo(codes.UNEXPECTED, "a malformed task result", stage="dask", path=(partition_key,))
    )
