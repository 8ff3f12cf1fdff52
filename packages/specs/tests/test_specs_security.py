"""Security suite: hostile or broken specs are refused with a code, and no code runs.

Every case checks two things: the error code, and that nothing executed. Two sentinels would
trip on any execution: every registry factory (and the functions it returns) records its call
in ``CALLS``, and the module ``funcpipe_specs_sentinel`` records any call of its functions in
``TRIPPED`` (YAML payloads name it; ``test_sentinel_is_live`` proves an unsafe loader trips it).
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from funcpipe.async_plan import AsyncPlan, async_pure
from funcpipe.policies import ChunkPolicy, RetryPolicy
from funcpipe.result import Err, Ok, Result, codes
from funcpipe.specs import (
    DEFAULT_MAX_BYTES,
    Format,
    NamedSize,
    Params,
    PipelineSpec,
    Registry,
    SecretRef,
    batch_map_entry,
    batch_map_op,
    map_entry,
    map_op,
    parse,
    pipeline_spec,
    reconstruct_pipeline,
    seal,
    serialize,
    spec_from_data,
)

CALLS: list[str] = []
TRIPPED: list[str] = []

_sentinel = types.ModuleType("funcpipe_specs_sentinel")


def _trip(*args: object, **kwargs: object) -> str:
    TRIPPED.append(f"trip{args}")
    return "tripped"


class _Tripwire:
    def __init__(self, *args: object, **kwargs: object) -> None:
        TRIPPED.append("Tripwire.__init__")

    def __setstate__(self, state: object) -> None:
        TRIPPED.append("Tripwire.__setstate__")


_sentinel.trip = _trip  # type: ignore[attr-defined]
_sentinel.Tripwire = _Tripwire  # type: ignore[attr-defined]
sys.modules["funcpipe_specs_sentinel"] = _sentinel


def _add_factory(params: Params) -> Callable[[int], AsyncPlan[int]]:
    CALLS.append("factory:add")
    n = params.get("n", 1)
    assert isinstance(n, int)

    def run(x: int) -> AsyncPlan[int]:
        CALLS.append("run:add")
        return async_pure(x + n)

    return run


def _sum_factory(params: Params) -> Callable[[list[int]], AsyncPlan[list[int]]]:
    CALLS.append("factory:sum")

    def run(xs: list[int]) -> AsyncPlan[list[int]]:
        CALLS.append("run:sum")
        return async_pure([sum(xs)])

    return run


def _digits(item: object) -> int:
    CALLS.append("size:digits")
    return len(str(item))


ADD = map_entry("add", "1", _add_factory)
SUM = batch_map_entry("sum", "1", _sum_factory)
EVIL = map_entry("evil", "1", _add_factory)
DIGITS = NamedSize("digits", _digits)
EVIL_SIZE = NamedSize("evil_size", _digits)
REGISTRY = Registry([ADD, SUM, EVIL], sizes=[DIGITS, EVIL_SIZE])
ALLOW = frozenset({"add", "sum", "digits"})


def good_spec() -> PipelineSpec:
    return pipeline_spec(
        "good",
        [
            map_op(ADD, params={"n": 2, "api_key": SecretRef(env="API_KEY")}, retry="r"),
            batch_map_op(SUM, chunk=ChunkPolicy(max_units=2, size_fn=DIGITS)),
        ],
        policies={"r": RetryPolicy(max_attempts=2)},
        resources={"url": "http://localhost", "token": {"env": "TOKEN"}},
    )


@pytest.fixture(autouse=True)
def _no_code_ran() -> Iterator[None]:
    """Every test here starts clean and must end with no sentinel tripped."""
    CALLS.clear()
    TRIPPED.clear()
    yield
    assert TRIPPED == [], f"code from a payload ran: {TRIPPED}"
    assert CALLS == [], f"a registered function ran: {CALLS}"


def _refused(res: Result[Any, Any], code: str) -> str:
    assert isinstance(res, Err), f"expected Err({code}), got {res!r}"
    assert res.error.code == code, res.error
    assert "\n" not in res.error.msg
    return str(res.error.msg)


def test_sentinel_is_live() -> None:
    """Positive control: an unsafe loader executes the payload and trips the sentinel."""
    yaml.unsafe_load("!!python/object/apply:funcpipe_specs_sentinel.trip [1]")
    assert TRIPPED == ["trip(1,)"]
    TRIPPED.clear()
    assert reconstruct_pipeline(good_spec(), REGISTRY, allow_list=ALLOW).is_ok()
    assert CALLS == ["factory:add", "factory:sum"]
    CALLS.clear()


def test_the_good_spec_is_accepted_without_running_anything() -> None:
    spec = good_spec()
    for fmt in ("json", "yaml"):
        assert parse(serialize(spec, fmt), fmt) == Ok(spec)


# ---------------------------------------------------------------- YAML payloads

PYTHON_TAGS = [
    "!!python/object/apply:funcpipe_specs_sentinel.trip [1]",
    "!!python/object/apply:os.system ['echo pwned']",
    "!!python/object/new:funcpipe_specs_sentinel.Tripwire {}",
    "!!python/object:funcpipe_specs_sentinel.Tripwire {a: 1}",
    "!!python/name:funcpipe_specs_sentinel.trip",
    "!!python/module:funcpipe_specs_sentinel",
    "name: !!python/object/apply:funcpipe_specs_sentinel.trip [2]\nops: []",
    "!<tag:yaml.org,2002:python/object/apply:funcpipe_specs_sentinel.trip> [3]",
    "%TAG !p! tag:yaml.org,2002:python/object/apply:\n---\n!p!funcpipe_specs_sentinel.trip [4]",
    "name: !custom x\nops: []",
    "name: !!str x\nops: []",
    "name: !!binary aGVsbG8=\nops: []",
    "name: x\nops: !!set {a, b}",
]


@pytest.mark.parametrize("payload", PYTHON_TAGS)
def test_yaml_tags_are_refused(payload: str) -> None:
    msg = _refused(parse(payload, "yaml"), codes.INVALID_SPEC)
    assert "tag" in msg


def test_a_tag_hidden_inside_a_valid_spec_is_refused() -> None:
    text = serialize(good_spec(), "yaml").replace(
        "url: http://localhost", "url: !!python/object/apply:funcpipe_specs_sentinel.trip [5]"
    )
    assert "funcpipe_specs_sentinel" in text
    _refused(parse(text, "yaml"), codes.INVALID_SPEC)


BILLION_LAUGHS = """
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.parametrize(
    "payload",
    [
        BILLION_LAUGHS,
        "name: &n x\nops: []",
        "base: &b {name: x}\nother: *b",
        "name: x\nops: []\n<<: {resources: {}}",
        "a: &a [*a]",
    ],
)
def test_anchors_aliases_and_merges_are_refused(payload: str) -> None:
    msg = _refused(parse(payload, "yaml"), codes.INVALID_SPEC)
    assert any(word in msg for word in ("alias", "anchor", "merge"))


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_oversized_documents_are_refused_before_parsing(fmt: Format) -> None:
    # Deep AND broken AND too big: only the size check may answer, so it ran first.
    text = "[" * (DEFAULT_MAX_BYTES + 1)
    res = parse(text, fmt)
    _refused(res, codes.INVALID_SPEC)
    assert isinstance(res, Err)
    assert res.error.ctx["reason"] == "too_large"
    small = serialize(good_spec(), fmt)
    limited = parse(small, fmt, max_bytes=len(small.encode()) - 1)
    assert isinstance(limited, Err)
    assert limited.error.ctx["reason"] == "too_large"
    assert parse(small, fmt, max_bytes=len(small.encode())).is_ok()


def test_multibyte_text_is_measured_in_bytes() -> None:
    text = json.dumps({"name": "é" * 600}, ensure_ascii=False)
    assert len(text) < 1000 < len(text.encode())
    res = parse(text, "json", max_bytes=1000)
    assert isinstance(res, Err)
    assert res.error.ctx["reason"] == "too_large"


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("json", "[" * 50_000 + "]" * 50_000),
        ("json", '{"a":' * 40 + "1" + "}" * 40),
        ("yaml", "[" * 50_000 + "]" * 50_000),
        ("yaml", "".join("  " * i + f"k{i}:\n" for i in range(40)) + "  " * 40 + "v"),
        ("yaml", "".join("  " * i + "-\n" for i in range(40)) + "  " * 40 + "v"),
    ],
)
def test_deeply_nested_documents_are_refused(fmt: Format, text: str) -> None:
    res = parse(text, fmt)
    msg = _refused(res, codes.INVALID_SPEC)
    assert "deeper" in msg


@pytest.mark.parametrize(
    "text",
    [
        "name: x\nops: []\nresources: {a: [" + "1," * 30_000 + "1]}",
        "name: x\nops: []\nresources:\n" + "".join(f"  {i:x}: 0\n" for i in range(11_000)),
    ],
)
def test_yaml_with_too_many_values_is_refused_while_parsing(text: str) -> None:
    assert len(text.encode()) <= DEFAULT_MAX_BYTES
    msg = _refused(parse(text, "yaml"), codes.INVALID_SPEC)
    assert "values" in msg


def test_depth_counts_containers_not_brackets_in_strings() -> None:
    spec = pipeline_spec("brackets", [map_op(ADD, params={"s": "[[[[{{{{" * 20})])
    assert parse(serialize(spec), "json", max_depth=6) == Ok(spec)
    assert isinstance(parse(serialize(spec), "json", max_depth=3), Err)


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("json", '{"name": "a", "name": "b", "ops": []}'),
        ("yaml", "name: a\nname: b\nops: []"),
        ("json", '{"name": "x", "ops": [], "resources": {"k": NaN}}'),
        ("json", '{"name": "x", "ops": [], "resources": {"k": Infinity}}'),
        ("json", '{"name": "x", "ops": [], "resources": {"k": 1e400}}'),
        ("yaml", "name: x\nops: []\nresources: {k: .nan}"),
        ("yaml", "name: x\nops: []\nresources: {1: one}"),
        ("yaml", "name: x\nops: []\nresources: {? [a, b] : one}"),
        ("yaml", "---\nname: x\nops: []\n---\nname: y\nops: []\n"),
        ("json", "not json"),
        ("yaml", "name: [unclosed"),
        ("json", "[]"),
        ("yaml", ""),
        ("json", '{"name": "x", "ops": [], "resources": {"big": ' + "9" * 5000 + "}}"),
        ("json", '{"name": "x", "ops": [], "resources": {"big": 9223372036854775808}}'),
        ("json", '{"name": "\\ud800", "ops": []}'),
        ("json", '"' + '\\"' * 100_000),  # once quadratic in the depth pre-scan
    ],
)
def test_malformed_documents_are_refused(fmt: Format, text: str) -> None:
    _refused(parse(text, fmt), codes.INVALID_SPEC)


# ---------------------------------------------------------------- schema


def _data() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(serialize(good_spec()))
    return loaded


def _set(data: dict[str, Any], path: tuple[str | int, ...], value: object) -> None:
    target: Any = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


@pytest.mark.parametrize(
    "path",
    [
        (),
        ("ops", 0),
        ("ops", 1),
        ("ops", 0, "policies"),
        ("policies", "r"),
        ("ops", 1, "policies", "chunk"),
    ],
)
def test_extra_fields_are_refused(path: tuple[str | int, ...]) -> None:
    data = _data()
    target: Any = data
    for step in path:
        target = target[step]
    target["__class__"] = "funcpipe_specs_sentinel.Tripwire"
    _refused(spec_from_data(data), codes.INVALID_SPEC)


WRONG_TYPES: list[tuple[tuple[str | int, ...], list[object]]] = [
    (("name",), [1, 1.5, True, None, [], {}, ""]),
    (("ops",), [1, "ops", None, {}, True]),
    (("ops", 0), [1, "op", None, [], True]),
    (("policies",), [1, "p", None, [], True]),
    (("resources",), [1, "r", None, [], True]),
    (("version",), [1, None, [], {}, True]),
    (("ops", 0, "kind"), [1, None, [], {}, "map", "Combine"]),
    (("ops", 0, "name"), [1, None, [], {}, True, ""]),
    (("ops", 0, "func_id"), [1, None, [], {}, True, "", "os.system('x')", "../x", "a b"]),
    (("ops", 0, "func_version"), [1, None, [], {}, True, ""]),
    (("ops", 0, "error_policy"), [1, None, [], {}, True, "ignore"]),
    (("ops", 0, "params"), [1, None, [], "p", True]),
    (("ops", 0, "policies"), [1, None, [], "p", True]),
    (("ops", 0, "version"), [1, None, [], {}, True]),
    (("ops", 0, "policies", "retry"), [1, [], True, "", "missing"]),
    (("ops", 0, "policies", "timeout"), [1, [], True, "", {}, {"timeout_ms": "1"}]),
    (("ops", 1, "policies", "chunk"), [1, [], True, {"max_units": -1}]),
    (("ops", 1, "policies", "chunk", "max_units"), ["1", 1.5, True, None, [], {}, -1]),
    (("ops", 1, "policies", "chunk", "max_delay_ms"), ["1", 1.5, True, None, [], {}, -1]),
    (("ops", 1, "policies", "chunk", "flush_on_err"), ["1", 1, None, [], {}]),
    (
        ("ops", 1, "policies", "chunk", "size"),
        [1, 1.5, True, None, [], {}, "", "a b", "../x", "os.system('x')", "x\n", "x" * 129],
    ),
    (("policies", "r", "kind"), [1, None, [], {}, "timeout", "python"]),
    (("policies", "r", "config"), [1, None, [], "c", True]),
    (("policies", "r", "config", "max_attempts"), ["1", 1.5, True, None, [], {}, 0]),
    (("policies", "r", "config", "retriable_codes"), ["TRANSIENT", 1, None, {}, [1], [""]]),
    (("policies", "r", "config", "backoff_base_ms"), ["1", 1.5, True, None, [], -1]),
    (("policies", "r", "config", "max_backoff_ms"), ["1", 1.5, True, None, [], -1]),
    (("policies", "r", "config", "jitter_factor"), ["1", True, None, [], 1.5, -0.1]),
    (("policies", "r", "config", "idempotent"), ["1", 1, None, [], {}]),
]


@pytest.mark.parametrize(("path", "values"), WRONG_TYPES)
def test_wrong_types_in_every_field_are_refused(
    path: tuple[str | int, ...], values: list[object]
) -> None:
    for value in values:
        data = _data()
        _set(data, path, value)
        res = spec_from_data(data)
        assert isinstance(res, Err), (path, value)
        assert res.error.code == codes.INVALID_SPEC, (path, value, res.error)
        # The error points at the field, or (kind changes) at a sibling it invalidates.
        assert res.error.path[: len(path) - 1] == path[:-1], res.error
        # The same document as text is refused by both formats too.
        for fmt in ("json", "yaml"):
            text = json.dumps(data) if fmt == "json" else yaml.safe_dump(data)
            again = parse(text, fmt)
            assert isinstance(again, Err)
            assert again.error.code == codes.INVALID_SPEC


def test_invalid_policy_values_name_the_field() -> None:
    data = _data()
    _set(data, ("policies", "r", "config", "max_attempts"), 0)
    msg = _refused(spec_from_data(data), codes.INVALID_SPEC)
    assert msg.startswith("policies.r.config: ")
    assert "max_attempts" in msg
    data = _data()
    _set(data, ("ops", 0, "policies", "timeout"), {"timeout_ms": 0})
    msg = _refused(spec_from_data(data), codes.INVALID_SPEC)
    assert msg.startswith("ops.0.policies.timeout: ")
    data = _data()
    data["policies"]["t"] = {"kind": "timeout"}  # config left out: still built and checked
    msg = _refused(spec_from_data(data), codes.INVALID_SPEC)
    assert msg.startswith("policies.t.config: ")
    assert "timeout_ms" in msg


@pytest.mark.parametrize(
    "path",
    [("name",), ("ops",), ("ops", 0, "kind"), ("ops", 0, "func_id"), ("ops", 0, "func_version")],
)
def test_missing_required_fields(path: tuple[str | int, ...]) -> None:
    data = _data()
    target: Any = data
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    res = spec_from_data(data)
    _refused(res, codes.MISSING_FIELD)
    assert isinstance(res, Err)
    assert res.error.path == path


def test_missing_hashes_and_chunk_policy() -> None:
    for path in (("version",), ("ops", 1, "version"), ("ops", 1, "policies", "chunk")):
        data = _data()
        _set(data, path, "" if path[-1] == "version" else None)
        _refused(spec_from_data(data), codes.MISSING_FIELD)


# ---------------------------------------------------------------- secrets


SECRET_VALUES: list[tuple[tuple[str | int, ...], object]] = [
    (("ops", 0, "params", "api_key"), "sk-live-123"),
    (("ops", 0, "params", "apiKey"), "sk-live-123"),
    (("ops", 0, "params", "x-api-key"), "sk-live-123"),
    (("ops", 0, "params", "password"), ""),
    (("ops", 0, "params", "auth"), {"token": "abc"}),
    (("ops", 0, "params", "credentials"), ["user", "pass"]),
    (("ops", 0, "params", "client_secret"), {"env": "OK", "value": "x"}),
    (("ops", 0, "params", "api_key"), {"env": "not a name"}),
    (("resources", "token"), "ghp_abcdef"),
    (("resources", "db"), {"url": "postgres://x", "password": "hunter2"}),
    (("resources", "secrets"), {"openai": "sk-123"}),
    (("resources", "SECRET_KEY"), "x"),
]


@pytest.mark.parametrize(("path", "value"), SECRET_VALUES)
def test_secrets_given_as_values_are_refused(path: tuple[str | int, ...], value: object) -> None:
    data = _data()
    _set(data, path, value)
    msg = _refused(spec_from_data(data), codes.INVALID_SPEC)
    assert "secret" in msg or "environment" in msg


def test_secret_references_and_look_alikes_are_accepted() -> None:
    spec = pipeline_spec(
        "refs",
        [
            map_op(
                ADD,
                params={
                    "n": 1,
                    "api_key": SecretRef(env="OPENAI_API_KEY"),
                    "max_tokens": 512,
                    "tokenizer": "cl100k",
                    "token_limit": 100,
                    "auth": None,
                },
            )
        ],
        resources={"secrets": {"a": {"env": "A"}, "b": None}},
    )
    assert parse(serialize(spec, "yaml"), "yaml") == Ok(spec)
    ref = SecretRef.from_data(spec.ops[0].params["api_key"])
    assert ref == SecretRef(env="OPENAI_API_KEY")
    assert ref.resolve({"OPENAI_API_KEY": "sk-1"}) == Ok("sk-1")
    missing = ref.resolve({})
    assert isinstance(missing, Err)
    assert missing.error.code == codes.MISSING_FIELD


def test_builders_refuse_secret_values() -> None:
    with pytest.raises(ValueError, match="secret"):
        map_op(ADD, params={"api_key": "sk-123"})
    with pytest.raises(ValueError, match="secret"):
        pipeline_spec("p", [], resources={"token": "abc"})


# ---------------------------------------------------------------- reconstruction


def test_unknown_op_ids_are_refused() -> None:
    ghost = map_entry("ghost", "1", _add_factory)
    spec = pipeline_spec("p", [map_op(ADD), map_op(ghost)])
    res = reconstruct_pipeline(spec, REGISTRY, allow_list={"add", "ghost"})
    msg = _refused(res, codes.UNKNOWN_OP)
    assert "ghost" in msg
    assert isinstance(res, Err)
    assert res.error.path == ("ops", 1, "func_id")


def test_disallowed_op_ids_are_refused_even_when_registered() -> None:
    spec = pipeline_spec("p", [map_op(ADD), map_op(EVIL)])
    _refused(reconstruct_pipeline(spec, REGISTRY, allow_list=ALLOW), codes.UNALLOWED_OP)
    _refused(reconstruct_pipeline(spec, REGISTRY, allow_list=()), codes.UNALLOWED_OP)
    _refused(reconstruct_pipeline(spec, REGISTRY, allow_list="add"), codes.RECONSTRUCT_FAIL)


def test_registry_version_changes_are_refused() -> None:
    spec = good_spec()
    newer = Registry([map_entry("add", "2", _add_factory), SUM])
    res = reconstruct_pipeline(spec, newer, allow_list=ALLOW)
    msg = _refused(res, codes.VERSION_MISMATCH)
    assert "add@1" in msg
    assert "add@2" in msg


def test_kind_changes_in_the_registry_are_refused() -> None:
    other = Registry([batch_map_entry("add", "1", _sum_factory), SUM])
    _refused(reconstruct_pipeline(good_spec(), other, allow_list=ALLOW), codes.INVALID_SPEC)


TAMPERS: list[tuple[tuple[str | int, ...], object]] = [
    (("ops", 0, "params", "n"), 3),
    (("ops", 0, "func_version"), "2"),
    (("ops", 1, "policies", "chunk", "max_units"), 100),
    (("ops", 1, "policies", "chunk", "size"), "chars"),
    (("policies", "r", "config", "max_attempts"), 9),
    (("resources", "url"), "http://evil"),
    (("name",), "renamed"),
    (("ops", 0, "version"), "0" * 64),
    (("version",), "0" * 64),
]


@pytest.mark.parametrize(("path", "value"), TAMPERS)
def test_tampered_hashes_are_refused(path: tuple[str | int, ...], value: object) -> None:
    data = _data()
    _set(data, path, value)
    for fmt in ("json", "yaml"):
        text = json.dumps(data) if fmt == "json" else yaml.safe_dump(data)
        _refused(parse(text, fmt), codes.HASH_MISMATCH)
    # A tampered model handed straight to reconstruction is caught too.
    unchecked = PipelineSpec.model_validate(data)
    res = reconstruct_pipeline(unchecked, REGISTRY, allow_list=ALLOW)
    _refused(res, codes.HASH_MISMATCH)


def test_models_changed_without_validation_are_checked_again() -> None:
    spec = good_spec()
    sneaky = spec.model_copy(update={"name": 42})
    _refused(reconstruct_pipeline(sneaky, REGISTRY, allow_list=ALLOW), codes.INVALID_SPEC)
    resealed = seal(spec.model_copy(update={"resources": {"password": "x"}}))
    _refused(reconstruct_pipeline(resealed, REGISTRY, allow_list=ALLOW), codes.INVALID_SPEC)
    weird: Any = "not a spec"
    _refused(reconstruct_pipeline(weird, REGISTRY, allow_list=ALLOW), codes.INVALID_SPEC)


def test_checks_of_later_ops_run_before_any_factory() -> None:
    spec = pipeline_spec("p", [map_op(ADD), map_op(ADD), map_op(EVIL)])
    _refused(reconstruct_pipeline(spec, REGISTRY, allow_list=ALLOW), codes.UNALLOWED_OP)


def _with_size(size: str) -> PipelineSpec:
    """The good spec, resealed with its chunk policy naming ``size``."""
    data = _data()
    _set(data, ("ops", 1, "policies", "chunk", "size"), size)
    return seal(PipelineSpec.model_validate(data))


@pytest.mark.parametrize(
    "size", ["nope", "len", "builtins.len", "os.path.getsize", "funcpipe_specs_sentinel.trip"]
)
def test_unknown_sizes_are_refused_and_never_imported(size: str) -> None:
    spec = _with_size(size)
    assert parse(serialize(spec, "yaml"), "yaml") == Ok(spec)  # a well-formed name is data
    res = reconstruct_pipeline(spec, REGISTRY, allow_list=ALLOW | {size})
    msg = _refused(res, codes.UNKNOWN_OP)
    assert repr(size) in msg
    assert isinstance(res, Err)
    assert res.error.path == ("ops", 1, "policies", "chunk", "size")
    _refused(reconstruct_pipeline(spec, REGISTRY, allow_list=ALLOW), codes.UNALLOWED_OP)


def test_disallowed_sizes_are_refused_even_when_registered() -> None:
    spec = _with_size("evil_size")
    res = reconstruct_pipeline(spec, REGISTRY, allow_list=ALLOW)
    _refused(res, codes.UNALLOWED_OP)
    assert isinstance(res, Err)
    assert res.error.path == ("ops", 1, "policies", "chunk", "size")
    # A size named by a shared policy is checked where it is written.
    shared = pipeline_spec(
        "p",
        [batch_map_op(SUM, chunk="c")],
        policies={"c": ChunkPolicy(max_units=2, size_fn=EVIL_SIZE)},
    )
    res = reconstruct_pipeline(shared, REGISTRY, allow_list=ALLOW)
    _refused(res, codes.UNALLOWED_OP)
    assert isinstance(res, Err)
    assert res.error.path == ("policies", "c", "config", "size")


def test_size_checks_run_before_any_factory() -> None:
    spec = pipeline_spec(
        "p", [map_op(ADD), batch_map_op(SUM, chunk=ChunkPolicy(max_units=2, size_fn=EVIL_SIZE))]
    )
    _refused(reconstruct_pipeline(spec, REGISTRY, allow_list=ALLOW), codes.UNALLOWED_OP)


def test_builtin_sizes_need_no_registration_and_run_nothing_at_reconstruction() -> None:
    for size in ("chars", "count"):
        spec = _with_size(size)
        assert reconstruct_pipeline(spec, Registry([ADD, SUM]), allow_list=ALLOW).is_ok()
        assert CALLS == ["factory:add", "factory:sum"]  # factories only: no size was called
        CALLS.clear()
