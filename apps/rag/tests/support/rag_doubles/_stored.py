"""Reading a store back in tests: drive a plan to its value, and every point of a collection."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TypeVar

from funcpipe.result import Err, ErrInfo, Ok, Result
from funcpipe_rag.adapters import EmbedderPort
from funcpipe_rag.app import Settings, open_backends

from ._hash_embedder import HashEmbedder

T = TypeVar("T")


def drive(main: Callable[[], Coroutine[object, object, Result[T, ErrInfo]]]) -> T:
    """Run ``main`` on a new event loop; its ``Ok`` value (an ``Err`` fails the test)."""
    res = asyncio.run(main())
    assert isinstance(res, Ok), res
    return res.value


def stored(settings: Settings) -> dict[str, object]:
    """Every point of the settings' collection (default ``funcpipe``): id -> stored record."""

    async def _scan() -> Result[dict[str, object], ErrInfo]:
        async with open_backends(
            settings, settings.collection or "funcpipe", embedder=EmbedderPort(HashEmbedder(4))
        ) as b:
            if isinstance(b, Err):
                return b
            got = await b.value.index.scan()()
            if isinstance(got, Err):
                return got
            return Ok({r.id: r for r in got.value[0]})

    return drive(_scan)
