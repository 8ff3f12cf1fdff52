"""Plain JSON data: checking it, hashing it canonically, and freezing it for factories."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from pydantic import JsonValue

MAX_INT = 2**63 - 1
"""Integers in specs stay within signed 64 bits, so every JSON reader agrees on them."""


def check_json(value: object, where: str, *, max_depth: int = 32) -> None:
    """Raise ``ValueError`` naming the first place where ``value`` is not portable JSON data.

    Allowed: None, bool, int within 64 bits, finite float, str encodable as UTF-8, lists and
    str-keyed dicts of those, nested at most ``max_depth`` containers deep.
    """
    stack: list[tuple[object, str, int]] = [(value, where, 0)]
    while stack:
        item, at, depth = stack.pop()
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, int):
            if not -MAX_INT - 1 <= item <= MAX_INT:
                raise ValueError(f"{at}: integer outside the signed 64-bit range")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(f"{at}: {item} is not a finite number")
        elif isinstance(item, str):
            check_text(item, at)
        elif isinstance(item, list | tuple | dict):
            if depth >= max_depth:
                raise ValueError(f"{at}: nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for k, v in item.items():
                    if not isinstance(k, str):
                        raise ValueError(f"{at}: key {k!r} is not a string")
                    check_text(k, at)
                    stack.append((v, f"{at}.{k}", depth + 1))
            else:
                stack.extend((v, f"{at}[{i}]", depth + 1) for i, v in enumerate(item))
        else:
            raise ValueError(f"{at}: a {type(item).__name__} is not JSON data")


def check_text(text: str, where: str) -> None:
    """Reject strings that cannot be written as UTF-8 (lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{where}: string is not valid Unicode text") from None


def canonical_json(payload: object) -> str:
    """Sorted keys, compact separators, UTF-8 text, no NaN: one spelling per value."""
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def to_json_data(value: object, where: str) -> JsonValue:
    """Copy ``value`` as plain JSON data (tuples become lists, models become dicts)."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        dumped: JsonValue = value.model_dump(mode="json")
        return dumped
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        out: dict[str, JsonValue] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{where}: key {k!r} is not a string")
            out[k] = to_json_data(v, f"{where}.{k}")
        return out
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [to_json_data(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise ValueError(f"{where}: a {type(value).__name__} is not JSON data")


def freeze(value: object) -> object:
    """A deep read-only copy: dicts become ``MappingProxyType``, lists become tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value
