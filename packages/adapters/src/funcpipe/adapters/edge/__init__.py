"""funcpipe.adapters.edge: the VectorStore on Qdrant Edge, in-process (extra ``[edge]``).

``EdgeStore(root)`` keeps one shard directory per collection under ``root``. Typical flow::

    store = EdgeStore(".funcpipe/qdrant")
    await perform_async(store.ensure_collection("docs", 256, payload_indexes={"source": "keyword"}))
    await perform_async(store.upsert("docs", points))     # bulk load
    await perform_async(store.optimize("docs"))           # build HNSW after bulk loads
    hits = await perform_async(store.query("docs", vector, limit=5))
    await perform_async(store.close())
"""

# The guard runs before the imports below, so a missing extra names the install to run.
# ruff: noqa: E402
from funcpipe.adapters._extras import require_extra

require_extra("edge", "qdrant_edge")

from ._store import EdgeStore as EdgeStore
from ._store import edge_error as edge_error
from ._store import to_edge_filter as to_edge_filter

__all__ = ["EdgeStore", "edge_error", "to_edge_filter"]
