"""Error policies as combinators: the two that act on Err items instead of passing them on.

Every other combinator lets an ``Err`` item flow on in place. These two are how a pipeline
chooses otherwise: ``async_gen_drop_errors`` removes Err items, ``async_gen_take_until_err``
ends the stream at the first one. Both are sequential (no task) and close their upstream
exactly once, promptly, like every combinator.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TypeVar

from funcpipe.result import Err, ErrInfo, Ok, Result

from ._core import close_stream, open_stream, stream
from ._types import AsyncGen

T = TypeVar("T")

_Items = AsyncGenerator[Result[T, ErrInfo], None]


def async_gen_drop_errors(gen: AsyncGen[T]) -> AsyncGen[T]:
    """Only the Ok items of ``gen``, in order; every ``Err`` item is dropped.

    Laws: the output is the Ok subsequence of ``gen`` (order and completeness);
    ``drop_errors(drop_errors(g)) ~ drop_errors(g)``; ``drop_errors(map(g, f)) ~
    map(drop_errors(g), f)`` for an ``f`` that does not raise. The whole upstream is read.
    """

    async def _drop_errors() -> _Items[T]:
        it = open_stream(gen)
        try:
            async for item in it:
                if isinstance(item, Ok):
                    yield item
        finally:
            await close_stream(it)

    return stream(_drop_errors)


def async_gen_take_until_err(gen: AsyncGen[T]) -> AsyncGen[T]:
    """The items of ``gen`` up to and including its first ``Err``; then the stream ends.

    Laws: the output is the shortest prefix of ``gen`` that ends with an ``Err`` (all of
    ``gen`` if it has none); exactly that many items are read from ``gen``;
    ``take_until_err(take_until_err(g)) ~ take_until_err(g)``. Fail fast: the upstream is
    closed *before* the ``Err`` is emitted, so no upstream work (e.g. plans still in flight
    in a bounded map) goes on while the consumer handles it.
    """

    async def _take_until_err() -> _Items[T]:
        it = open_stream(gen)
        first_err: Result[T, ErrInfo] | None = None
        try:
            async for item in it:
                if isinstance(item, Err):
                    first_err = item
                    break
                yield item
        finally:
            await close_stream(it)
        if first_err is not None:
            yield first_err

    return stream(_take_until_err)
