"""BM25 sparse vectors by Qdrant Edge's ``Bm25`` (stemming, stopwords, Qdrant's token ids).

A pure function of the text and the parameters (nothing is downloaded: the model is code in the
Edge wheel); the store adapter (``StoreIndex``) applies it, so the app's domain and pipelines
only name the parameters. The vectors are those of Qdrant's server-side BM25 and of fastembed's, so
a collection written here can be searched by any Qdrant client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from funcpipe.adapters.vectors import SparseVector

from funcpipe_rag.domain import Bm25Params


class Bm25Encoder:
    """BM25 term weights over ``qdrant_edge.Bm25`` with the given parameters.

    ``documents`` weighs each term by BM25's saturated, length-normalised frequency; ``query``
    gives each query term weight 1 (the collection's IDF modifier supplies the rest).
    """

    def __init__(self, params: Bm25Params) -> None:
        import qdrant_edge as qe  # loaded only where BM25 is used

        config: Any = qe.Bm25Config(k=params.k1, b=params.b, avg_len=params.avg_len)
        self._model = qe.Bm25(config)
        self.params = params

    def documents(self, texts: Sequence[str]) -> list[SparseVector]:
        """One vector per text, in order (empty for a text without terms)."""
        out: list[SparseVector] = []
        for text in texts:
            v = self._model.embed_document(text)
            out.append(SparseVector.of(v.indices, v.values))
        return out

    def query(self, text: str) -> SparseVector:
        """The query's distinct terms, each weight 1."""
        v = self._model.embed_query(text)
        return SparseVector.of(v.indices, v.values)
