"""ErrInfo: immutable, read-only ctx, equality ignoring cause, from_exception, with_* copies."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest
from funcpipe.result import ErrInfo, codes
from hypothesis import given
from hypothesis import strategies as st

keys = st.one_of(st.text(max_size=4), st.integers())
paths = st.lists(keys, max_size=4).map(tuple)
ctxs = st.dictionaries(st.text(max_size=4), st.integers(), max_size=4)
infos = st.builds(
    ErrInfo,
    code=st.sampled_from([codes.TRANSIENT, codes.TIMEOUT, codes.UNEXPECTED, "CUSTOM"]),
    msg=st.text(max_size=10),
    stage=st.text(max_size=4),
    path=paths,
    ctx=ctxs,
)


def test_defaults() -> None:
    e = ErrInfo("X", "m")
    assert (e.stage, e.path, e.cause) == ("", (), None)
    assert dict(e.ctx) == {}


@given(infos)
def test_fields_are_immutable(e: ErrInfo) -> None:
    for name in ("code", "msg", "stage", "path", "cause", "ctx"):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(e, name, None)
    assert isinstance(e.path, tuple)


@given(infos, st.text(max_size=3), st.integers())
def test_ctx_is_read_only(e: ErrInfo, key: str, value: int) -> None:
    with pytest.raises(TypeError):
        e.ctx[key] = value  # type: ignore[index]


@given(ctxs, st.text(max_size=3))
def test_ctx_is_a_copy_of_the_callers_mapping(ctx: dict[str, int], key: str) -> None:
    plain = ErrInfo("X", "m", ctx=ctx)
    proxied = ErrInfo("X", "m", ctx=MappingProxyType(ctx))
    before = dict(ctx)
    ctx[key] = -1  # the caller keeps mutating its dict
    assert dict(plain.ctx) == before
    assert dict(proxied.ctx) == before


def test_path_from_any_sequence_becomes_a_tuple() -> None:
    e = ErrInfo("X", "m", path=["a", 1])  # type: ignore[arg-type]
    assert e.path == ("a", 1)


@given(infos)
def test_equality_and_hash_ignore_cause(e: ErrInfo) -> None:
    a = dataclasses.replace(e, cause=ValueError("a"))
    b = dataclasses.replace(e, cause=KeyError("b"))
    assert a == b == e
    assert hash(a) == hash(b) == hash(e)
    assert "cause" not in repr(a)


@given(infos, infos)
def test_equal_means_equal_fields(a: ErrInfo, b: ErrInfo) -> None:
    same = (a.code, a.msg, a.stage, a.path, dict(a.ctx)) == (
        b.code,
        b.msg,
        b.stage,
        b.path,
        dict(b.ctx),
    )
    assert (a == b) == same
    if a == b:
        assert hash(a) == hash(b)


def test_ctx_takes_part_in_equality() -> None:
    assert ErrInfo("X", "m", ctx={"a": 1}) != ErrInfo("X", "m", ctx={"a": 2})


@given(st.text(max_size=10))
def test_from_exception_defaults(text: str) -> None:
    exc = ValueError(text)
    e = ErrInfo.from_exception(exc)
    assert e.code == codes.UNEXPECTED
    assert e.msg == f"ValueError: {text}"
    assert e.cause is exc
    assert (e.stage, e.path, dict(e.ctx)) == ("", (), {})


def test_from_exception_overrides() -> None:
    exc = TimeoutError("slow")
    e = ErrInfo.from_exception(
        exc, code=codes.TIMEOUT, msg="too slow", stage="embed", path=("doc", 2), ctx={"ms": 5}
    )
    assert (e.code, e.msg, e.stage, e.path, dict(e.ctx)) == (
        codes.TIMEOUT,
        "too slow",
        "embed",
        ("doc", 2),
        {"ms": 5},
    )
    assert e.cause is exc


@given(infos, paths)
def test_with_path_prefixes(e: ErrInfo, prefix: tuple[str | int, ...]) -> None:
    cause = RuntimeError("c")
    e = dataclasses.replace(e, cause=cause)
    out = e.with_path(*prefix)
    assert out.path == prefix + e.path
    assert (out.code, out.msg, out.stage, out.ctx, out.cause) == (
        e.code,
        e.msg,
        e.stage,
        e.ctx,
        cause,
    )
    assert e.with_path() == e


@given(infos, st.text(max_size=4))
def test_with_stage_replaces_only_the_stage(e: ErrInfo, stage: str) -> None:
    out = e.with_stage(stage)
    assert out.stage == stage
    assert (out.code, out.msg, out.path, out.ctx) == (e.code, e.msg, e.path, e.ctx)


@given(infos, ctxs)
def test_with_ctx_merges_later_keys_win(e: ErrInfo, extra: dict[str, int]) -> None:
    original = dict(e.ctx)
    out = e.with_ctx(**extra)
    assert dict(out.ctx) == {**original, **extra}
    assert dict(e.ctx) == original  # the original is untouched
    assert (out.code, out.msg, out.stage, out.path) == (e.code, e.msg, e.stage, e.path)
    with pytest.raises(TypeError):
        out.ctx["new"] = 1  # type: ignore[index]


def test_codes_are_plain_strings() -> None:
    names = [
        "TRANSIENT",
        "TIMEOUT",
        "RATE_LIMIT",
        "AUTH",
        "NETWORK",
        "SERVICE_SPECIFIC",
        "DB_ERROR",
        "FATAL_DB",
        "UNEXPECTED",
        "MAX_RETRIES",
        "INVALID_INPUT",
        "PARSE_ERROR",
        "HASH_MISMATCH",
        "UNALLOWED_OP",
        "UNKNOWN_OP",
        "VERSION_MISMATCH",
        "MISSING_FIELD",
        "INVALID_SPEC",
        "RECONSTRUCT_FAIL",
    ]
    for name in names:
        assert getattr(codes, name) == name
    assert frozenset({codes.TRANSIENT, codes.TIMEOUT, codes.RATE_LIMIT}) == (
        codes.DEFAULT_RETRIABLE
    )
