"""Laws of specs as data: round trips through JSON and YAML, and the canonical hash."""

from __future__ import annotations

import json
import random
from typing import cast

import yaml  # type: ignore[import-untyped]
from funcpipe.policies import (
    BackpressurePolicy,
    ChunkPolicy,
    CircuitBreaker,
    RateLimitPolicy,
    RetryBudget,
    RetryPolicy,
    TimeoutPolicy,
)
from funcpipe.result import Err, Ok, codes
from funcpipe.specs import (
    Format,
    PipelineSpec,
    canonical_hash,
    is_secret_key,
    parse,
    seal,
    serialize,
    spec_from_data,
)
from hypothesis import given, note
from hypothesis import strategies as st
from pydantic import JsonValue

# ---------------------------------------------------------------- strategies

ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,12}", fullmatch=True)
names = st.text(min_size=1, max_size=16)
keys = st.text(max_size=8).filter(lambda k: not is_secret_key(k))
scalars: st.SearchStrategy[JsonValue] = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values: st.SearchStrategy[JsonValue] = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(keys, json_values, max_size=4)

retry_data = st.builds(
    RetryPolicy,
    max_attempts=st.integers(1, 6),
    retriable_codes=st.frozensets(st.sampled_from(["TRANSIENT", "TIMEOUT", "RATE_LIMIT", "X"])),
    backoff_base_ms=st.integers(0, 1000),
    max_backoff_ms=st.integers(0, 20_000),
    jitter_factor=st.floats(0.0, 1.0),
    idempotent=st.booleans(),
).map(RetryPolicy.to_dict)
timeout_data = st.builds(TimeoutPolicy, timeout_ms=st.integers(1, 100_000)).map(
    TimeoutPolicy.to_dict
)
backpressure_data = st.builds(
    BackpressurePolicy, max_concurrent=st.integers(1, 64), ordered=st.booleans()
).map(BackpressurePolicy.to_dict)
rate_data = st.builds(
    RateLimitPolicy,
    tokens_per_second=st.floats(0.001, 1e6),
    burst_tokens=st.integers(1, 1000),
).map(RateLimitPolicy.to_dict)
budget_data = st.builds(
    RetryBudget,
    ratio=st.floats(0.0, 10.0) | st.integers(0, 3),
    min_per_s=st.floats(0.0, 100.0),
    window_s=st.floats(0.001, 3600.0) | st.integers(1, 60),
).map(RetryBudget.to_dict)
breaker_data = st.builds(
    CircuitBreaker,
    failure_threshold=st.integers(1, 100),
    window_s=st.floats(0.001, 3600.0),
    reset_timeout_s=st.floats(0.0, 3600.0) | st.integers(0, 60),
    half_open_probes=st.integers(1, 10),
).map(CircuitBreaker.to_dict)
sizes = st.none() | st.sampled_from(["count", "chars"]) | ids
"""The size a chunk policy names: none, a built-in one, or any id a registry could hold."""


def _with_size(data: dict[str, object], size: str | None) -> dict[str, object]:
    return data if size is None else {**data, "size": size}


chunk_data = st.builds(
    _with_size,
    st.tuples(st.integers(0, 1000), st.integers(0, 10_000), st.booleans())
    .filter(lambda t: t[0] or t[1])  # (0, 0) is refused at construction
    .map(
        lambda t: ChunkPolicy[object](
            max_units=t[0], max_delay_ms=t[1], flush_on_err=t[2]
        ).to_dict()
    ),
    sizes,
)
POLICY_DATA = {
    "retry": retry_data,
    "timeout": timeout_data,
    "backpressure": backpressure_data,
    "rate_limit": rate_data,
    "chunk": chunk_data,
    "retry_budget": budget_data,
    "circuit_breaker": breaker_data,
}
_GUARDS = ("retry_budget", "circuit_breaker")
KIND_POLICIES = {
    "Map": ("retry", "timeout", "backpressure", "rate_limit", *_GUARDS),
    "Sink": ("retry", "timeout", "backpressure", "rate_limit", *_GUARDS),
    "FlatMap": ("rate_limit",),
    "BatchMap": ("retry", "timeout", "backpressure", "rate_limit", "chunk", *_GUARDS),
}


@st.composite
def spec_data(draw: st.DrawFn) -> dict[str, object]:
    """Plain data of a valid, unsealed spec (policies inline or by name)."""
    named: dict[str, object] = {}
    for kind in draw(st.lists(st.sampled_from(list(POLICY_DATA)), max_size=3)):
        named[draw(ids)] = {"kind": kind, "config": draw(POLICY_DATA[kind])}
    ops = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(list(KIND_POLICIES)))
        policies: dict[str, object] = {}
        for pk in KIND_POLICIES[kind]:
            refs = [n for n, p in named.items() if cast(dict[str, str], p)["kind"] == pk]
            must = kind == "BatchMap" and pk == "chunk"
            choice = draw(
                st.sampled_from(["none", "inline", "ref"] if refs else ["none", "inline"])
            )
            if choice == "inline" or (choice == "none" and must):
                policies[pk] = draw(POLICY_DATA[pk])
            elif choice == "ref":
                policies[pk] = draw(st.sampled_from(refs))
        ops.append(
            {
                "kind": kind,
                "name": draw(names),
                "func_id": draw(ids),
                "func_version": draw(st.text(min_size=1, max_size=8)),
                "error_policy": draw(st.sampled_from(["collect", "drop", "fail_fast"])),
                "params": draw(json_objects),
                "policies": policies,
            }
        )
    return {"name": draw(names), "ops": ops, "policies": named, "resources": draw(json_objects)}


specs = spec_data().map(lambda d: seal(PipelineSpec.model_validate(d)))


def _shuffled(value: object, rng: random.Random) -> object:
    """The same data with every mapping's keys in a random order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


# ---------------------------------------------------------------- round trips


@given(specs)
def test_json_round_trip(spec: PipelineSpec) -> None:
    assert parse(serialize(spec, "json"), "json") == Ok(spec)


@given(specs)
def test_yaml_round_trip(spec: PipelineSpec) -> None:
    text = serialize(spec, "yaml")
    note(text)
    assert parse(text, "yaml") == Ok(spec)


# ---------------------------------------------------------------- the hash


@given(specs, st.randoms(use_true_random=False), st.sampled_from([None, 0, 1, 4]))
def test_hash_stable_under_key_order_and_whitespace(
    spec: PipelineSpec, rng: random.Random, indent: int | None
) -> None:
    data = _shuffled(json.loads(serialize(spec)), rng)
    text = json.dumps(data, indent=indent, separators=(", ", " : ") if indent is None else None)
    reparsed = parse("\n  " + text + "\n\n", "json").unwrap()
    assert canonical_hash(reparsed) == canonical_hash(spec) == spec.version
    flow = yaml.safe_dump(data, default_flow_style=True, sort_keys=True, width=30)
    assert canonical_hash(parse(flow, "yaml").unwrap()) == spec.version


@given(specs)
def test_hash_ignores_every_version_field(spec: PipelineSpec) -> None:
    blank_ops = tuple(op.model_copy(update={"version": "x"}) for op in spec.ops)
    blank = spec.model_copy(update={"version": "", "ops": blank_ops})
    assert canonical_hash(blank) == spec.version
    for op in spec.ops:
        assert canonical_hash(op.model_copy(update={"version": "tampered"})) == op.version


def _leaves(value: object, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return [path]


_CYCLES = {"collect": "drop", "drop": "fail_fast", "fail_fast": "collect"}


def _mutated(path: tuple[str | int, ...], value: object) -> object:
    """A different value of the same type (error policies cycle through their choices)."""
    if path[-1] == "error_policy" and isinstance(value, str):
        return _CYCLES[value]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value - 1 if value > 0 else value + 1
    if isinstance(value, float):
        return value / 4 if abs(value) >= 0.5 else value + 0.5  # never absorbed by rounding
    if isinstance(value, str):
        return value + "x"
    return {"changed": True}


def _is_version(path: tuple[str | int, ...]) -> bool:
    return path == ("version",) or (len(path) == 3 and path[0] == "ops" and path[2] == "version")


def _check_mutation(spec: PipelineSpec, path: tuple[str | int, ...]) -> bool:
    """Change one leaf of the spec's data; True if the result is a valid spec (then the
    stored hashes must no longer verify and the resealed hash must differ)."""
    copy = json.loads(json.dumps(spec.model_dump(mode="json")))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = _mutated(path, target[path[-1]])
    res = spec_from_data(copy)
    assert isinstance(res, Err), f"changing {path} kept the hash"
    if res.error.code != "HASH_MISMATCH":
        return False  # the change made the spec invalid: nothing to hash
    assert seal(PipelineSpec.model_validate(copy)).version != spec.version
    return True


@given(specs, st.data())
def test_hash_changes_when_any_meaningful_field_changes(
    spec: PipelineSpec, data: st.DataObject
) -> None:
    paths = [p for p in _leaves(spec.model_dump(mode="json")) if not _is_version(p)]
    for path in data.draw(st.lists(st.sampled_from(paths), max_size=4, unique=True)):
        _check_mutation(spec, path)


def test_hash_covers_every_field_of_a_rich_spec() -> None:
    """Every leaf of a spec using every kind, policy and data shape feeds the hash."""
    data = {
        "name": "rich",
        "policies": {
            "r": {"kind": "retry", "config": RetryPolicy(max_attempts=3).to_dict()},
            "rl": {"kind": "rate_limit", "config": {"tokens_per_second": 2.5, "burst_tokens": 3}},
        },
        "resources": {"url": "http://x", "n": 1, "f": 0.5, "b": True, "list": [1, "a"]},
        "ops": [
            {
                "kind": "Map",
                "name": "m",
                "func_id": "m",
                "func_version": "1",
                "params": {"n": 2, "nested": {"k": [1.5, "s", False]}},
                "policies": {
                    "retry": "r",
                    "timeout": {"timeout_ms": 100},
                    "backpressure": {"max_concurrent": 4, "ordered": True},
                },
            },
            {
                "kind": "FlatMap",
                "name": "f",
                "func_id": "f",
                "func_version": "1",
                "policies": {"rate_limit": "rl"},
                "error_policy": "drop",
            },
            {
                "kind": "BatchMap",
                "name": "b",
                "func_id": "b",
                "func_version": "1",
                "policies": {
                    "chunk": {"max_units": 3, "max_delay_ms": 10, "flush_on_err": True, "size": "c"}
                },
                "error_policy": "fail_fast",
            },
            {"kind": "Sink", "name": "s", "func_id": "s", "func_version": "1"},
        ],
    }
    spec = seal(PipelineSpec.model_validate(data))
    paths = [p for p in _leaves(spec.model_dump(mode="json")) if not _is_version(p)]
    valid = [p for p in paths if _check_mutation(spec, p)]
    invalid = [p for p in paths if p not in valid]
    assert len(valid) >= 44, f"only {valid} mutated into valid specs; not: {invalid}"


@given(specs)
def test_a_chunk_size_has_one_spelling(spec: PipelineSpec) -> None:
    """``"size": "count"`` is the default and is left out: both spellings hash alike."""
    data = json.loads(serialize(spec))
    chunks = [op["policies"]["chunk"] for op in data["ops"] if op["kind"] == "BatchMap"]
    chunks = [c for c in chunks if isinstance(c, dict)]  # not the names of shared policies
    chunks += [p["config"] for p in data["policies"].values() if p["kind"] == "chunk"]
    assert all(c.get("size") != "count" for c in chunks)
    for chunk in chunks:
        if "size" not in chunk:
            chunk["size"] = "count"
    assert parse(json.dumps(data), "json") == Ok(spec)  # same hashes, same model


# ---------------------------------------------------------------- resealing an edited spec


@given(spec_data(), st.sampled_from(["json", "yaml"]), st.text(min_size=1, max_size=8))
def test_reseal_recomputes_hashes_and_nothing_else(
    data: dict[str, object], fmt: str, new_name: str
) -> None:
    """An edited spec is refused until resealed; resealing gives exactly ``seal`` of the edit."""
    sealed = seal(PipelineSpec.model_validate(data))
    # A hand edit that leaves the old hashes in place, written out as the library writes specs.
    edited = sealed.model_copy(update={"name": sealed.name + new_name})
    fmt_ = cast(Format, fmt)
    text = serialize(edited, fmt_)
    refused = parse(text, fmt_)
    assert isinstance(refused, Err)
    assert refused.error.code == codes.HASH_MISMATCH
    resealed = parse(text, fmt_, reseal=True)
    assert isinstance(resealed, Ok), resealed
    assert resealed.value.name == sealed.name + new_name
    assert resealed.value == seal(resealed.value)  # every hash is the canonical one
    assert resealed.value.version != sealed.version


@given(spec_data())
def test_reseal_accepts_a_spec_written_without_hashes(data: dict[str, object]) -> None:
    text = json.dumps(data)
    missing = parse(text, "json")
    assert isinstance(missing, Err)
    assert missing.error.code in (codes.MISSING_FIELD, codes.HASH_MISMATCH)
    assert parse(text, "json", reseal=True) == Ok(seal(PipelineSpec.model_validate(data)))


def test_reseal_still_refuses_unsafe_or_invalid_text() -> None:
    tagged = "name: !!python/object/apply:os.system ['true']\nops: []\n"
    bad = parse(tagged, "yaml", reseal=True)
    assert isinstance(bad, Err)
    assert bad.error.code == codes.INVALID_SPEC
    extra = parse(json.dumps({"name": "x", "ops": [], "evil": 1}), "json", reseal=True)
    assert isinstance(extra, Err)
    assert extra.error.code == codes.INVALID_SPEC
