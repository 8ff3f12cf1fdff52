"""Turning validation failures into ErrInfo values with a code and a one-line message."""

from __future__ import annotations

import re

from funcpipe.result import ErrInfo, codes
from pydantic import ValidationError

_PREFIXES = ("Value error, ", "Assertion failed, ")
_FIELD_PATH = re.compile(
    r"^(?P<path>(?:params|resources|policies|ops|config)(?:\.[^ :.\[\]]+|\[\d+\])*): "
)
_STEP = re.compile(r"\.([^ :.\[\]]+)|\[(\d+)\]")


def invalid(msg: str, *, reason: str = "invalid", path: tuple[str | int, ...] = ()) -> ErrInfo:
    """``ErrInfo(INVALID_SPEC)`` with ``ctx["reason"]``."""
    return ErrInfo(codes.INVALID_SPEC, msg, stage="specs", path=path, ctx={"reason": reason})


def _steps(text: str) -> tuple[str | int, ...]:
    head, _, _ = text.partition(".")
    head = head.split("[", 1)[0]
    steps: list[str | int] = [head]
    for name, index in _STEP.findall(text[len(head) :]):
        steps.append(int(index) if index else int(name) if name.isdigit() else name)
    return tuple(steps)


def from_validation_error(exc: ValidationError) -> ErrInfo:
    """The first pydantic error as MISSING_FIELD (a required field is absent) or INVALID_SPEC.

    ``path`` is the field's location, made precise when the message names a place inside
    it (``params.api_key: ...``); the message starts with that path in dotted form.
    """
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    path: tuple[str | int, ...] = tuple(p for p in first["loc"] if isinstance(p, str | int))
    text = first["msg"]
    for prefix in _PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
    named = _FIELD_PATH.match(text)
    if named:
        inner = _steps(named.group("path"))
        path = path[:-1] + inner if path and path[-1] == inner[0] else path + inner
        text = text[named.end() :]
    where = ".".join(str(p) for p in path)
    code = codes.MISSING_FIELD if first["type"] == "missing" else codes.INVALID_SPEC
    return ErrInfo(
        code,
        f"{where}: {text}" if where else text,
        stage="specs",
        path=path,
        ctx={"reason": first["type"], "errors": len(errors)},
    )
