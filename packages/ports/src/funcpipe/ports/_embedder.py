"""The embedder port."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from funcpipe.async_plan import AsyncPlan


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors.

    Contract (checked by one shared test suite for every implementation):
    - ``embed(texts)`` yields one vector per text, in input order, each of length
      ``dimension``, all finite; ``embed([])`` yields ``[]``; same text -> same vector.
    - An empty or whitespace-only text -> ``Err(EMPTY_INPUT)`` with ``ctx["index"]``; a
      non-str -> ``Err(INVALID_INPUT)``. Backend failures map to the taxonomy codes.
    - ``model_id`` names the model (with ``dimension`` it is the embedder's identity).
    - Building the plan does nothing; the embedder never retries on its own.
    """

    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> AsyncPlan[list[list[float]]]: ...
