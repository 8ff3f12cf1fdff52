"""The public surface of funcpipe.streams: every name of the api.md contract, documented."""

from __future__ import annotations

import inspect

import funcpipe.streams as streams

# The streams section of shared/design/api.md, with its parameter names.
CONTRACT: dict[str, list[str]] = {
    "async_gen_return": ["value"],
    "async_gen_from_list": ["items"],
    "async_gen_map": ["gen", "f"],
    "async_gen_map_action": ["gen", "f"],
    "async_gen_and_then": ["gen", "f"],
    "async_gen_flat_map": ["gen", "f"],
    "async_gen_flatten": ["gen"],
    "async_gen_filter": ["gen", "pred"],
    "lift_async_item": ["fn"],
    "lift_sync_gen_with_executor": ["f", "executor"],
    "async_gen_using": ["cm_thunk", "make_stream"],
    "async_gen_bounded_map": ["source", "f", "policy"],
    "async_gen_gather": ["gens", "max_buffer"],
    "async_gen_chunk": ["source", "policy"],
    "async_gen_rate_limited": ["stream_in", "policy", "env"],
    "async_gen_fair_merge": ["streams", "policy"],
}
EXTRAS = {
    "AsyncGen",
    "async_gen_collect",
    "async_gen_drop_errors",
    "async_gen_from_results",
    "async_gen_map_err",
    "async_gen_take",
    "async_gen_take_until_err",
    "async_gen_tap",
    "close_stream",
}


def test_all_lists_the_contract_and_the_extras() -> None:
    assert set(streams.__all__) == set(CONTRACT) | EXTRAS
    assert sorted(streams.__all__) == streams.__all__


def test_contract_parameters() -> None:
    for name, params in CONTRACT.items():
        sig = inspect.signature(getattr(streams, name))
        assert [p for p in sig.parameters if p not in ("args", "kwargs")][: len(params)] == params
    gather = inspect.signature(streams.async_gen_gather)
    assert gather.parameters["max_buffer"].default == 16
    assert gather.parameters["max_buffer"].kind is inspect.Parameter.KEYWORD_ONLY
    assert inspect.signature(streams.async_gen_fair_merge).parameters["policy"].default is None
    rate = inspect.signature(streams.async_gen_rate_limited).parameters["env"]
    assert (rate.default, rate.kind) == (None, inspect.Parameter.KEYWORD_ONLY)


def test_every_public_function_is_documented() -> None:
    for name in streams.__all__:
        obj = getattr(streams, name)
        if callable(obj) and name != "AsyncGen":
            doc = inspect.getdoc(obj)
            assert doc, name
            assert doc.splitlines()[0].endswith("."), name
