"""The real adapters and funcpipe.testing's fakes implement the one definition of each port
(``funcpipe.ports``).

mypy proves the structural fit (``_proof`` assigns each adapter to its Protocol type: a missing
method or a wrong signature fails ``make check``); the runtime tests check the re-exports are
the same objects, so ``funcpipe.adapters.vectors`` imports keep working.
"""

from __future__ import annotations

import funcpipe.adapters.embedders as embedders
import funcpipe.adapters.vectors as vectors
import funcpipe.ports as ports
import pytest
from funcpipe.ports import Embedder, HttpPort, VectorStore
from funcpipe.testing import FakeEmbedder, FakeHttpClient, FakeVectorStore

try:
    from funcpipe.adapters.edge import EdgeStore
    from funcpipe.adapters.embed import StaticEmbedder
    from funcpipe.adapters.http import HttpClient, OpenAIEmbeddings
    from funcpipe.adapters.qdrant import QdrantStore
except ImportError:  # an extra is not installed
    pytest.skip("needs every funcpipe-adapters extra", allow_module_level=True)


def _proof(
    edge: EdgeStore,
    qdrant: QdrantStore,
    static: StaticEmbedder,
    openai: OpenAIEmbeddings,
    http: HttpClient,
    fake_embedder: FakeEmbedder,
    fake_http: FakeHttpClient,
    fake_store: FakeVectorStore,
) -> tuple[VectorStore, VectorStore, Embedder, Embedder, HttpPort, Embedder, HttpPort, VectorStore]:
    return edge, qdrant, static, openai, http, fake_embedder, fake_http, fake_store


def test_the_port_types_are_reexported_not_redefined() -> None:
    for name in ["Point", "ScoredPoint", "Record", "Filter", "VectorStore"]:
        assert getattr(vectors, name) is getattr(ports, name)
    assert embedders.Embedder is ports.Embedder
