"""funcpipe.adapters.embedders: the Embedder port (defined in ``funcpipe.ports``, re-exported
here) and the input check every embedder shares (no optional dependency).

Implementations: ``funcpipe.adapters.embed.StaticEmbedder`` (extra ``[embed]``) and
``funcpipe.adapters.http.OpenAIEmbeddings`` (extra ``[http]``).
"""

from __future__ import annotations

from collections.abc import Sequence

from funcpipe.ports import Embedder
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

__all__ = ["Embedder", "check_texts"]


def check_texts(texts: Sequence[object]) -> Result[list[str], ErrInfo]:
    """Validate embedder input: every item a str with some non-whitespace character."""
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
