"""The task a worker runs: rebuild the spec (once per process), run one partition through it.

``run_partition`` is what the driver submits; it takes and returns plain data only. The spec
is parsed with every check of ``funcpipe.specs.parse`` (its hashes verified: a tampered spec is
HASH_MISMATCH and runs nothing) and rebuilt with ``reconstruct_pipeline`` from the registry the
job names, which must also be in the job's allow-list of registries. Rebuilt pipelines are kept
per process, keyed by registry and spec hash, so a worker rebuilds each spec once.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Sequence

from funcpipe.adapters.runtime import collect_stream
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.specs import Pipeline, Registry, parse, reconstruct_pipeline
from funcpipe.streams import async_gen_from_list

from ._wire import EncodedResult, Plain, encode_err, encode_result, is_registry_name

_lock = threading.Lock()
_pipelines: dict[tuple[str, str], Pipeline] = {}
_registries: dict[str, Registry] = {}


def _load_registry(name: str) -> Result[Registry, ErrInfo]:
    """Import ``module:attribute`` (a Registry or a zero-argument function returning one)."""
    if name in _registries:
        return Ok(_registries[name])
    if not is_registry_name(name):
        return Err(ErrInfo(codes.INVALID_INPUT, f"not a registry import name: {name!r}", "dask"))
    module_name, attr = name.split(":")
    try:
        found: object = getattr(importlib.import_module(module_name), attr)
        if not isinstance(found, Registry) and callable(found):
            found = found()
    except Exception as exc:
        return Err(ErrInfo.from_exception(exc, code="RECONSTRUCT_FAIL", stage="dask"))
    if not isinstance(found, Registry):
        msg = f"{name} is not a funcpipe.specs.Registry"
        return Err(ErrInfo("RECONSTRUCT_FAIL", msg, "dask"))
    _registries[name] = found
    return Ok(found)


def rebuild(
    spec_json: str, registry: str, allow_list: Sequence[str], allowed_registries: Sequence[str]
) -> Result[Pipeline, ErrInfo]:
    """The pipeline of ``spec_json``, rebuilt at most once per process for each spec hash."""
    if registry not in allowed_registries:
        return Err(ErrInfo("UNALLOWED_OP", f"registry {registry!r} is not allowed", "dask"))
    parsed = parse(spec_json, "json")
    if isinstance(parsed, Err):
        return parsed
    spec = parsed.value
    with _lock:
        cached = _pipelines.get((registry, spec.version))
        if cached is not None:
            return Ok(cached)
        reg = _load_registry(registry)
        if isinstance(reg, Err):
            return reg
        built = reconstruct_pipeline(spec, reg.value, allow_list=allow_list)
        if isinstance(built, Ok):
            _pipelines[(registry, spec.version)] = built.value
        return built


async def _run(pipeline: Pipeline, key: str, items: list[Plain]) -> list[EncodedResult]:
    got = await collect_stream(pipeline.describe(async_gen_from_list(items)))
    return [encode_result(r, key) for r in got]


def run_partition(
    spec_json: str,
    registry: str,
    allow_list: Sequence[str],
    allowed_registries: Sequence[str],
    key: str,
    items: list[Plain],
) -> list[EncodedResult]:
    """Run partition ``key`` through the spec; every outcome is an encoded Result.

    A spec that fails to parse, verify or rebuild gives one error item for the partition
    (nothing of it runs). Runs its own event loop in the worker's task thread.
    """
    built = rebuild(spec_json, registry, allow_list, allowed_registries)
    if isinstance(built, Err):
        e = built.error
        return [encode_err(ErrInfo(e.code, e.msg, e.stage or "dask", (key,)))]
    return asyncio.run(_run(built.value, key, items))
