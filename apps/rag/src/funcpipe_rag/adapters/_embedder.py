"""The app's Embedder port over any ``funcpipe.adapters.embedders.Embedder``."""

from __future__ import annotations

from collections.abc import Sequence

from funcpipe.adapters.embedders import Embedder as LibEmbedder
from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from funcpipe_rag.domain import EmbedderId, Vector


class EmbedderPort:
    """Binds a library embedder to the app: identity = model id + dimension.

    A text the model cannot embed (no embeddable token) gets a fixed placeholder unit vector
    instead of failing the whole batch; such a chunk is still stored and findable by source.
    """

    def __init__(self, inner: LibEmbedder, *, dim: int | None = None) -> None:
        self._inner = inner
        self._dim = dim

    @property
    def inner(self) -> LibEmbedder:
        return self._inner

    @property
    def identity(self) -> EmbedderId:
        return EmbedderId(self._inner.model_id, self._dim or self._inner.dimension)

    def _placeholder(self) -> list[float]:
        dim = self.identity.dim
        return [1.0] + [0.0] * (dim - 1)

    def embed(self, texts: Sequence[str]) -> AsyncPlan[list[Vector]]:
        frozen = list(texts)

        async def _embed() -> Result[list[Vector], ErrInfo]:
            todo = list(range(len(frozen)))
            out: dict[int, Vector] = {}
            while todo:
                got = await self._inner.embed([frozen[i] for i in todo])()
                if isinstance(got, Ok):
                    out.update(zip(todo, got.value, strict=False))
                    if len(got.value) != len(todo):
                        msg = f"embedder returned {len(got.value)} vectors for {len(todo)} texts"
                        return Err(ErrInfo(codes.SERVICE_SPECIFIC, msg))
                    break
                err = got.error
                bad = err.ctx.get("index")
                if (
                    err.code != codes.EMPTY_INPUT
                    or not isinstance(bad, int)
                    or not 0 <= bad < len(todo)
                ):
                    return Err(err)
                out[todo[bad]] = self._placeholder()
                del todo[bad]
            return Ok([out[i] for i in range(len(frozen))])

        return _embed
