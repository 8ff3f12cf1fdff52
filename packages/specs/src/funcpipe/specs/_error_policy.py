"""Error policies of an op as stream transformers: collect, drop, fail_fast.

Local compositions: funcpipe.streams passes every Err through by law, so the two policies that
act on Err items are written here as small async generators that close their upstream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

from funcpipe.result import Err, ErrInfo, Ok, Result
from funcpipe.streams import AsyncGen

from ._models import ErrorPolicy

T = TypeVar("T")


async def _close(it: AsyncIterator[object]) -> None:
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        await aclose()


def drop_errors(gen: AsyncGen[T]) -> AsyncGen[T]:
    """Only the Ok items of ``gen``, in order."""

    async def _drop() -> AsyncIterator[Result[T, ErrInfo]]:
        it = gen()
        try:
            async for item in it:
                if isinstance(item, Ok):
                    yield item
        finally:
            await _close(it)

    return _drop


def until_first_error(gen: AsyncGen[T]) -> AsyncGen[T]:
    """The items of ``gen`` up to and including its first Err; then ``gen`` is closed."""

    async def _fail_fast() -> AsyncIterator[Result[T, ErrInfo]]:
        it = gen()
        try:
            async for item in it:
                yield item
                if isinstance(item, Err):
                    return
        finally:
            await _close(it)

    return _fail_fast


def apply_error_policy(gen: AsyncGen[T], policy: ErrorPolicy) -> AsyncGen[T]:
    """``collect`` keeps Err items in place, ``drop`` removes them, ``fail_fast`` ends at one."""
    if policy == "drop":
        return drop_errors(gen)
    if policy == "fail_fast":
        return until_first_error(gen)
    return gen
