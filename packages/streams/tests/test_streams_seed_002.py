"""The stream examples of seed 002 (section 5), run against funcpipe.streams.

The test bodies are copied verbatim from the seed; only the import lines are ours. The seed's
style (lambdas, unannotated parameters) is kept on purpose, hence the lint/type pragmas.
"""
# ruff: noqa: E731, PT018
# mypy: disallow-untyped-defs=False, disallow-incomplete-defs=False, disallow-untyped-calls=False

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from funcpipe.result import Err, ErrInfo, Ok, Result
from funcpipe.streams import AsyncGen, async_gen_and_then, async_gen_return, async_gen_using
from hypothesis import given
from hypothesis import strategies as st


@given(x=st.integers())
@pytest.mark.asyncio
async def test_async_gen_left_identity(x: int):
    f = lambda y: async_gen_return(y + 1)

    left = [item async for item in async_gen_and_then(async_gen_return(x), f)()]
    right = [item async for item in f(x)()]

    assert left == right


@given(xs=st.lists(st.integers(), max_size=100))
@pytest.mark.asyncio
async def test_async_gen_right_identity(xs):
    # Laws are defined on the Ok-path only; we generate only Ok here on purpose.
    def src() -> AsyncGen[int]:
        async def _src() -> AsyncIterator[Result[int, ErrInfo]]:
            for v in xs:
                yield Ok(v)

        return lambda: _src()

    left = [item async for item in async_gen_and_then(src(), async_gen_return)()]
    right = [item async for item in src()()]

    assert left == right


@given(xs=st.lists(st.integers(), max_size=100))
@pytest.mark.asyncio
async def test_async_gen_associativity(xs):
    # Laws are defined on the Ok-path only; we generate only Ok here on purpose.
    def src() -> AsyncGen[int]:
        async def _src() -> AsyncIterator[Result[int, ErrInfo]]:
            for v in xs:
                yield Ok(v)

        return lambda: _src()

    f = lambda y: async_gen_return(y + 1)
    g = lambda z: async_gen_return(z * 2)

    a = async_gen_and_then(async_gen_and_then(src(), f), g)
    b = async_gen_and_then(src(), lambda y: async_gen_and_then(f(y), g))

    a_items = [item.value async for item in a() if isinstance(item, Ok)]
    b_items = [item.value async for item in b() if isinstance(item, Ok)]

    assert a_items == b_items


@pytest.mark.asyncio
async def test_async_gen_and_then_per_item_error_propagation():
    async def _src() -> AsyncIterator[Result[int, ErrInfo]]:
        yield Ok(1)
        yield Err(ErrInfo(code="BOOM", msg="test"))
        yield Ok(2)

    def src() -> AsyncGen[int]:
        return lambda: _src()

    f = lambda x: async_gen_return(x * 10)

    out = [item async for item in async_gen_and_then(src(), f)()]

    assert isinstance(out[0], Ok) and out[0].value == 10
    assert isinstance(out[1], Err) and out[1].error.code == "BOOM"
    assert isinstance(out[2], Ok) and out[2].value == 20


@pytest.mark.asyncio
async def test_async_gen_replayable():
    gen = async_gen_return(1)

    first = [item async for item in gen()]
    second = [item async for item in gen()]

    assert first == second


@pytest.mark.asyncio
async def test_resource_cleanup_on_early_break():
    called = False

    @asynccontextmanager
    async def fake_resource():
        nonlocal called
        try:
            yield None
        finally:
            called = True

    stream = async_gen_using(fake_resource, lambda _: async_gen_return(42))

    async for _ in stream():  # consume one item then break
        break

    assert called
