"""Stream drivers: iterate an AsyncGen and always close what was opened."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from funcpipe.result import ErrInfo, Result
from funcpipe.streams import AsyncGen, close_stream

T = TypeVar("T")


async def aclose_quietly(it: AsyncIterator[object]) -> None:
    """Close ``it`` if it has ``aclose`` (async generators do); a no-op otherwise."""
    await close_stream(it)


async def collect_stream(gen: AsyncGen[T], *, limit: int | None = None) -> list[Result[T, ErrInfo]]:
    """Drive ``gen`` once and return its items (``Ok`` and ``Err``) in order.

    Stops after ``limit`` items when given. The iterator is closed on every exit: end, limit,
    exception or cancellation. ``limit < 0`` raises ``ValueError``.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"collect_stream: limit must be >= 0, got {limit}")
    out: list[Result[T, ErrInfo]] = []
    if limit == 0:
        return out
    it = gen()
    try:
        async for item in it:
            out.append(item)
            if limit is not None and len(out) >= limit:
                break
    finally:
        await aclose_quietly(it)
    return out


async def drive_stream(
    gen: AsyncGen[T], on_item: Callable[[Result[T, ErrInfo]], Awaitable[None] | None]
) -> int:
    """Drive ``gen`` once, calling ``on_item`` (sync or async) per item; return the item count.

    The iterator is closed on every exit. An exception raised by ``on_item`` stops the drive
    and propagates (it is the shell's own code), after the iterator is closed.
    """
    n = 0
    it = gen()
    try:
        async for item in it:
            n += 1
            ret = on_item(item)
            if inspect.isawaitable(ret):
                await ret
    finally:
        await aclose_quietly(it)
    return n
