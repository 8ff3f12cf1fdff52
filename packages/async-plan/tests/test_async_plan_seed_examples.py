# mypy: disable-error-code="no-untyped-def, no-untyped-call"
"""The seed's own examples (seeds/001_5fa346f9b81010b8.txt, section 5), run against our API.

``test_async_bind_laws`` and ``test_replayability`` are copied from the seed with only their
imports changed (plus ``noqa`` / ``fmt: off`` comments that keep the seed's style).
``http_mock`` is undefined in the seed, so a deterministic stand-in is defined here.
Do not "improve" the two copies.
"""

from __future__ import annotations

import pytest
from funcpipe.async_plan import async_bind, async_lift, async_pure
from funcpipe.result import ErrInfo, Ok, Result
from hypothesis import given
from hypothesis import strategies as st

try:
    from funcpipe.adapters.runtime import perform_async
except ImportError:  # funcpipe-async-plan installed alone: the runtime is not there
    pytest.skip("needs funcpipe-adapters (perform_async)", allow_module_level=True)


class _DeterministicHttp:
    """Stand-in for the seed's ``http_mock``: the same URL always gives the same JSON."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def get_json(self, url: str) -> Result[dict[str, object], ErrInfo]:
        self.calls.append(url)
        return Ok({"url": url, "status": 200})


http_mock = _DeterministicHttp()


# --- copied from the seed (section 5) ----------------------------------------------------
# fmt: off


@given(x=st.integers())
@pytest.mark.asyncio
async def test_async_bind_laws(x: int):
    f = lambda y: async_pure(y + 1)  # noqa: E731
    g = lambda z: async_pure(z * 2)  # noqa: E731
    a = async_pure(x)
    assert await perform_async(async_bind(async_bind(a, f), g)) == \
        await perform_async(async_bind(a, lambda y: async_bind(f(y), g)))
    assert await perform_async(async_bind(a, async_pure)) == \
        await perform_async(a)
    assert await perform_async(async_bind(async_pure(x), f)) == \
        await perform_async(f(x))


@pytest.mark.asyncio
async def test_replayability():
    plan = async_lift(lambda: http_mock.get_json("/test"))  # mock is deterministic
    r1 = await perform_async(plan)
    r2 = await perform_async(plan)  # fresh coroutine each call
    assert r1 == r2


# fmt: on
# --- end of the copy ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_stand_in_ran_once_per_run() -> None:
    before = len(http_mock.calls)
    plan = async_lift(lambda: http_mock.get_json("/again"))
    assert http_mock.calls[before:] == []  # building did nothing
    assert await perform_async(plan) == Ok({"url": "/again", "status": 200})
    assert await perform_async(plan) == Ok({"url": "/again", "status": 200})
    assert http_mock.calls[before:] == ["/again", "/again"]
