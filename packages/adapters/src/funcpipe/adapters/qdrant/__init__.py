"""funcpipe.adapters.qdrant: the VectorStore on qdrant-client (extra ``[qdrant]``).

``QdrantStore.connect(url=..., api_key=...)`` for a server or cluster,
``QdrantStore.connect(location=":memory:")`` or ``QdrantStore.connect(path=...)`` for
qdrant-client's local mode, or ``QdrantStore(client)`` around a client the shell owns.
"""

# The guard runs before the imports below, so a missing extra names the install to run.
# ruff: noqa: E402
from funcpipe.adapters._extras import require_extra

require_extra("qdrant", "qdrant_client", "httpx")

from ._store import QdrantStore as QdrantStore
from ._store import qdrant_error as qdrant_error
from ._store import to_qdrant_filter as to_qdrant_filter

__all__ = ["QdrantStore", "qdrant_error", "to_qdrant_filter"]
