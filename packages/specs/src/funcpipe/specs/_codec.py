"""serialize / parse: specs as JSON or YAML text, refused unless they are plain, bounded data."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Literal

from funcpipe.result import Err, ErrInfo, Ok, Result
from pydantic import ValidationError

from ._errors import from_validation_error, invalid
from ._hash import seal, verify
from ._models import PipelineSpec

Format = Literal["json", "yaml"]

DEFAULT_MAX_BYTES = 256 * 1024
"""Specs are small; anything bigger is refused before it is parsed."""
DEFAULT_MAX_DEPTH = 32
"""Containers nested deeper than this are refused before (JSON) or while (YAML) parsing."""
DEFAULT_MAX_NODES = 20_000
"""YAML documents with more values than this are refused while parsing (PyYAML is pure
Python, so this bounds the work a hostile document can cause)."""

_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)
"""A string (to skip, unterminated ones run to the end) or a bracket: one linear scan."""


def serialize(spec: PipelineSpec, fmt: Format = "json") -> str:
    """The spec as JSON (2-space indent) or block YAML; ``parse`` reads either back unchanged."""
    data = spec.model_dump(mode="json")
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    if fmt == "yaml":
        from ._yaml import dump_yaml  # PyYAML loads only for YAML (start-up time)

        return dump_yaml(data)
    raise ValueError(f"fmt must be 'json' or 'yaml', got {fmt!r}")


def parse(
    text: str,
    fmt: Format = "json",
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_nodes: int = DEFAULT_MAX_NODES,
    reseal: bool = False,
) -> Result[PipelineSpec, ErrInfo]:
    """Read a spec from text, validate it and verify its hashes. Runs no code from the text.

    ``reseal=True`` is the explicit "I edited it on purpose" step: the hashes in the text are
    ignored (they may be wrong or absent) and recomputed; every other check still applies.

    Refused with INVALID_SPEC: more than ``max_bytes`` UTF-8 bytes (checked first), more than
    ``max_depth`` nesting (checked before parsing JSON, while composing YAML), more than
    ``max_nodes`` YAML values (while composing), syntax errors, duplicate keys, NaN or
    infinities, any YAML tag, anchor, alias or merge key, unknown fields, wrong types, invalid
    policy values (the message names the field), secrets given as values. MISSING_FIELD for a
    required field or hash that is absent; HASH_MISMATCH when content and hash disagree.
    """
    if fmt not in ("json", "yaml"):
        raise ValueError(f"fmt must be 'json' or 'yaml', got {fmt!r}")
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        return Err(invalid(f"spec is larger than {max_bytes} bytes", reason="too_large"))
    if fmt == "json":
        loaded = _load_json(text, max_depth)
    else:
        loaded = _load_yaml(text, max_depth, max_nodes)
    return loaded.and_then(lambda data: spec_from_data(data, reseal=reseal))


def spec_from_data(data: object, *, reseal: bool = False) -> Result[PipelineSpec, ErrInfo]:
    """Validate already-loaded plain data as a spec and verify its hashes (see ``parse``);
    with ``reseal`` the hashes are recomputed instead of checked."""
    if not isinstance(data, Mapping):
        return Err(invalid(f"a spec must be a mapping, got {type(data).__name__}"))
    try:
        spec = PipelineSpec.model_validate(data)
    except ValidationError as exc:
        return Err(from_validation_error(exc))
    except (ValueError, TypeError) as exc:
        return Err(invalid(str(exc)))
    return verify(seal(spec) if reseal else spec)


def _reject_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not allowed in specs")


def json_depth(text: str, limit: int | None = None) -> int:
    """Deepest bracket nesting of JSON text, ignoring brackets inside strings.

    Linear time; stops early once the depth passes ``limit``.
    """
    depth = deepest = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if limit is not None and deepest > limit:
                    break
        elif token in "]}":
            depth -= 1
    return deepest


def _load_json(text: str, max_depth: int) -> Result[object, ErrInfo]:
    if json_depth(text, max_depth) > max_depth:
        return Err(invalid(f"spec is nested deeper than {max_depth} levels", reason="too_deep"))
    try:
        data: object = json.loads(
            text, object_pairs_hook=_reject_pairs, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError) as exc:
        return Err(invalid(f"not valid spec JSON: {exc}", reason="syntax"))
    return Ok(data)


def _load_yaml(text: str, max_depth: int, max_nodes: int) -> Result[object, ErrInfo]:
    import yaml  # type: ignore[import-untyped]  # loaded only for YAML (start-up time)

    from ._yaml import SpecYamlError, load_yaml

    try:
        return Ok(load_yaml(text, max_depth=max_depth, max_nodes=max_nodes))
    except SpecYamlError as exc:
        return Err(invalid(f"refused YAML: {exc}", reason="yaml"))
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Err(invalid(f"not valid spec YAML: {first}", reason="syntax"))
