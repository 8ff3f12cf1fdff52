"""Vector reuse: the ledger is the cache.

Before a chunk is embedded, the collection is asked for a stored chunk with the same content
hash (``ChunkRecord.chunk_hash``: it covers the embedded text, context line included) written
by the same embedder; its dense vector is reused. So a renamed file, a copied page or a
re-ingest under another key sends no embedding request. BM25 vectors are computed locally
from the text at write time, so a reused point gets the same sparse vector as a fresh one.

Laws: a reused vector is one the same embedder made for the same text (same hash, same
identity); a failed lookup only means nothing is reused (the chunks are embedded, never
lost); within a run, a text embedded once is remembered (bounded) and not sent again.
Cancellation: a cancelled lookup leaves nothing behind (it only reads).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result

from funcpipe_rag.domain import Vector

MEMO_SIZE = 4096
"""The most vectors a run remembers (by chunk hash) for its later groups."""

LOOKUP_BATCH = 256
"""The most chunk hashes asked of the store in one query."""


@runtime_checkable
class StoredVectors(Protocol):
    """An index that can find stored vectors by chunk hash (``StoreIndex`` can; an index
    without this capability reuses nothing)."""

    def vectors_by_hash(
        self, hashes: Sequence[str], embedder: str
    ) -> AsyncPlan[dict[str, Vector]]: ...


class VectorReuse:
    """One run's reuse: the store's stored vectors by chunk hash, and a bounded memo of the
    vectors this run has already made or found.

    ``index`` gives the run's current index (the store may still be opening when the run is
    built); one that is not ``StoredVectors`` (``None`` for a fresh collection, a dry run's
    empty index) means only the memo is asked.
    """

    def __init__(self, embedder: str, index: Callable[[], object]) -> None:
        self._embedder = embedder
        self._index = index
        self._memo: OrderedDict[str, Vector] = OrderedDict()

    def remember(self, chunk_hash: str, vector: Vector) -> None:
        """Keep ``vector`` for a later group of the run (the oldest goes past ``MEMO_SIZE``)."""
        self._memo[chunk_hash] = vector
        self._memo.move_to_end(chunk_hash)
        while len(self._memo) > MEMO_SIZE:
            self._memo.popitem(last=False)

    def lookup(self, hashes: Sequence[str]) -> AsyncPlan[dict[str, Vector]]:
        """The known vectors of ``hashes`` (a hash not found is left out). Never an ``Err``
        that matters: a failed store query gives what the memo knows."""
        wanted = list(dict.fromkeys(hashes))

        async def _run() -> Result[dict[str, Vector], ErrInfo]:
            found = {h: self._memo[h] for h in wanted if h in self._memo}
            rest = [h for h in wanted if h not in found]
            index = self._index()
            if not rest or not isinstance(index, StoredVectors):
                return Ok(found)
            for i in range(0, len(rest), LOOKUP_BATCH):
                got = await index.vectors_by_hash(rest[i : i + LOOKUP_BATCH], self._embedder)()
                if isinstance(got, Err):
                    return Ok(found)  # nothing more reused; the chunks get embedded
                found.update(got.value)
            return Ok(found)

        return _run
