"""At-least-once made visible: wrappers of the real cluster ports that run tasks twice and
deliver results out of order (what Dask may do when a worker dies or a task is stolen)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Collection, Iterable, Sequence

from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Result
from funcpipe.streams import AsyncGen
from funcpipe_rag.domain import EmbedderId, RawSource, Vector
from funcpipe_rag.pipelines import Shard, ShardDone, ShardRunner


class ReplayingShards:
    """A ``ShardRunner`` over a real one: shards at the drawn indices are submitted twice
    (two real tasks), and every result (duplicates included) is delivered in an order drawn
    from ``seed`` after all have finished. ``duplicates`` counts the results delivered twice."""

    def __init__(self, inner: ShardRunner, twice: Collection[int], seed: int) -> None:
        self._inner, self._twice, self._seed = inner, frozenset(twice), seed
        self.duplicates = 0
        self.reordered = False

    def locate(self, raw: RawSource) -> str | None:
        return self._inner.locate(raw)

    def run(self, shards: Iterable[Shard]) -> AsyncGen[ShardDone]:
        listed = list(shards)
        sent = [s for n, s in enumerate(listed) for _ in range(2 if n in self._twice else 1)]

        async def _gen() -> AsyncIterator[Result[ShardDone, ErrInfo]]:
            got = [r async for r in self._inner.run(sent)()]
            keys = [r.value.key if not isinstance(r, Err) else "" for r in got]
            self.duplicates += len(keys) - len(set(keys))
            order = list(range(len(got)))
            random.Random(self._seed).shuffle(order)
            self.reordered = order != sorted(order)
            for i in order:
                yield got[i]

        return _gen


class TwiceEmbedder:
    """An ``Embedder`` that sends every request twice (a task run again) and keeps the
    second answer; ``requests`` counts what was sent."""

    def __init__(self, inner: object) -> None:
        self._inner = inner
        self.requests = 0

    @property
    def identity(self) -> EmbedderId:
        ident: EmbedderId = self._inner.identity  # type: ignore[attr-defined]
        return ident

    def embed(self, texts: Sequence[str]) -> AsyncPlan[list[Vector]]:
        step: AsyncPlan[list[Vector]] = self._inner.embed(texts)  # type: ignore[attr-defined]

        async def _twice() -> Result[list[Vector], ErrInfo]:
            self.requests += 2
            await step()
            return await step()

        return _twice
