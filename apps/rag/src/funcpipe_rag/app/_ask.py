"""The ask use case: open the store and the embedder, answer one question, close.

Laws: the answer's citations are chunks ``run_search`` returns for the same question and
options. Errors as ``pipelines.ask``; a missing collection answers nothing (a refusal).
"""

from __future__ import annotations

from funcpipe.result import Err, ErrInfo, Result

from funcpipe_rag.adapters import EmbedderPort
from funcpipe_rag.domain._answer import Answer
from funcpipe_rag.pipelines import DEFAULT_SPEC
from funcpipe_rag.pipelines._ask import AskOptions, ask

from ._compose import FreeBytes, collection_for, disk_free, open_backends
from ._settings import Settings


async def run_ask(
    settings: Settings,
    question: str,
    options: AskOptions,
    *,
    embedder: EmbedderPort | None = None,
    free_bytes: FreeBytes = disk_free,
) -> Result[Answer, ErrInfo]:
    """Answer ``question`` from the configured collection (extractive: no model)."""
    async with open_backends(
        settings, collection_for(settings, DEFAULT_SPEC), embedder=embedder, free_bytes=free_bytes
    ) as opened:
        if isinstance(opened, Err):
            return opened
        b = opened.value
        return await ask(b.index, b.embedder, question, options, b.index.collection)()
