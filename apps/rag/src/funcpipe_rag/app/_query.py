"""The read use cases over the configured backends: search and verify."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Result

from funcpipe_rag.adapters import EmbedderPort
from funcpipe_rag.domain import SearchHit, SearchOptions, VerifyReport
from funcpipe_rag.pipelines import DEFAULT_SETTINGS, search, verify

from ._backends import Backends, open_backends
from ._settings import Settings, collection_for
from ._space import FreeBytes, disk_free

T = TypeVar("T")


async def _on_store(
    settings: Settings,
    embedder: EmbedderPort | None,
    free_bytes: FreeBytes,
    use: Callable[[Backends], AsyncPlan[T]],
) -> Result[T, ErrInfo]:
    """``use`` on the configured backends of the collection the settings name, then closed."""
    async with open_backends(
        settings,
        collection_for(settings, DEFAULT_SETTINGS),
        embedder=embedder,
        free_bytes=free_bytes,
    ) as opened:
        if isinstance(opened, Err):
            return opened
        return await use(opened.value)()


async def run_search(
    settings: Settings,
    query: str,
    options: SearchOptions | int,
    *,
    embedder: EmbedderPort | None = None,
    free_bytes: FreeBytes = disk_free,
) -> Result[list[SearchHit], ErrInfo]:
    """The best chunks for ``query`` (``pipelines.search``; an int is ``k``)."""

    def use(b: Backends) -> AsyncPlan[list[SearchHit]]:
        return search(b.index, b.embedder, query, options, b.index.collection)

    return await _on_store(settings, embedder, free_bytes, use)


async def run_verify(
    settings: Settings,
    *,
    repair: bool,
    embedder: EmbedderPort | None = None,
    free_bytes: FreeBytes = disk_free,
) -> Result[tuple[VerifyReport, VerifyReport | None], ErrInfo]:
    """Check (and with ``repair`` restore) the store's invariants."""
    return await _on_store(settings, embedder, free_bytes, lambda b: verify(b.index, repair=repair))
