"""A deterministic bag-of-words hashing embedder: offline, instant, for tests and benchmarks."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence

from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

_WORD = re.compile(r"\w+", re.UNICODE)


class HashEmbedder:
    """Each word adds +-1 to a bucket chosen by its blake2b hash; vectors are unit length.

    Same text -> same vector on any machine. Implements the library ``Embedder`` protocol.
    A text without a word character gets ``Err(EMPTY_INPUT)`` with ``ctx["index"]``.
    """

    def __init__(self, dim: int = 64) -> None:
        if dim < 2:
            raise ValueError(f"HashEmbedder: dim must be >= 2, got {dim}")
        self._dim = dim
        self.calls = 0
        self.texts = 0

    @property
    def model_id(self) -> str:
        return "funcpipe/hash-bow"

    @property
    def dimension(self) -> int:
        return self._dim

    def vector(self, text: str) -> list[float] | None:
        v = [0.0] * self._dim
        for w in _WORD.findall(text.lower()):
            h = hashlib.blake2b(w.encode(), digest_size=8).digest()
            n = int.from_bytes(h, "little")
            v[n % self._dim] += 1.0 if (n >> 32) & 1 else -1.0
        norm = math.sqrt(sum(x * x for x in v))
        return [x / norm for x in v] if norm else None

    def embed(self, texts: Sequence[str]) -> AsyncPlan[list[list[float]]]:
        frozen = list(texts)

        async def _run() -> Result[list[list[float]], ErrInfo]:
            self.calls += 1
            self.texts += len(frozen)
            out: list[list[float]] = []
            for i, t in enumerate(frozen):
                vec = self.vector(t)
                if vec is None:
                    msg = f"text {i} has no word to embed"
                    return Err(ErrInfo(codes.EMPTY_INPUT, msg, path=(i,), ctx={"index": i}))
                out.append(vec)
            return Ok(out)

        return _run
