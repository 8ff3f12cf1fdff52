"""The embedder port."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes


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


def check_texts(texts: Sequence[object]) -> Result[list[str], ErrInfo]:
    """Validate embedder input (the contract every embedder shares): a non-str ->
    ``Err(INVALID_INPUT)``, an empty or whitespace-only text -> ``Err(EMPTY_INPUT)``; both with
    ``path=(index,)`` and ``ctx["index"]``."""
    out: list[str] = []
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            return Err(
                ErrInfo(
                    codes.INVALID_INPUT,
                    f"text {i} is {type(t).__name__}, not str",
                    path=(i,),
                    ctx={"index": i},
                )
            )
        if not t.strip():
            return Err(
                ErrInfo(codes.EMPTY_INPUT, f"text {i} is empty", path=(i,), ctx={"index": i})
            )
        out.append(t)
    return Ok(out)
