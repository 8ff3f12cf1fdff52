"""Search phases timed for the server's metrics: who is told, and the embedder that tells.

``PhaseObserver(name, seconds)`` is told the wall time of each phase of one search: ``embed``
(the query's vector), ``stamp``, ``engine`` and ``decode`` (see ``StoreIndex.observed``). An
observer must not raise and must be cheap (it runs on the event loop).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from funcpipe.async_plan import AsyncPlan
from funcpipe.result import ErrInfo, Result

from funcpipe_rag.adapters import PhaseObserver
from funcpipe_rag.domain import Embedder, EmbedderId, Vector


def ignore_phase(name: str, seconds: float) -> None:
    """The observer of a service nobody watches."""


class TimedEmbedder:
    """``inner`` with the wall time of each ``embed`` told to ``observe`` as ``embed``; the
    same identity and vectors."""

    def __init__(self, inner: Embedder, observe: PhaseObserver) -> None:
        self._inner = inner
        self._observe = observe

    @property
    def identity(self) -> EmbedderId:
        return self._inner.identity

    def embed(self, texts: Sequence[str]) -> AsyncPlan[list[Vector]]:
        plan = self._inner.embed(texts)

        async def _run() -> Result[list[Vector], ErrInfo]:
            t0 = time.perf_counter()
            got = await plan()
            self._observe("embed", time.perf_counter() - t0)
            return got

        return _run
