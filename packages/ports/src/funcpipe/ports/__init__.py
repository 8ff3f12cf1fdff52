"""funcpipe.ports: one definition of each port (vector store and its data types, embedder,
document source, HTTP client), implemented by ``funcpipe.adapters`` and by the fakes of
``funcpipe.testing``. Pure Python: Protocols and immutable data only.
"""

from ._embedder import Embedder as Embedder
from ._embedder import check_texts as check_texts
from ._http import DEFAULT_MAX_BYTES as DEFAULT_MAX_BYTES
from ._http import DEFAULT_MAX_LINE_BYTES as DEFAULT_MAX_LINE_BYTES
from ._http import HttpPort as HttpPort
from ._http import code_for_status as code_for_status
from ._search import Nearest as Nearest
from ._search import Rrf as Rrf
from ._search import SearchQuery as SearchQuery
from ._search import cap_groups as cap_groups
from ._search import fetch_sizes as fetch_sizes
from ._search import rrf_fuse as rrf_fuse
from ._search import rrf_score as rrf_score
from ._sources import DocumentSource as DocumentSource
from ._sparse import SparseVector as SparseVector
from ._vectors import Distance as Distance
from ._vectors import Filter as Filter
from ._vectors import MatchValue as MatchValue
from ._vectors import PayloadIndexKind as PayloadIndexKind
from ._vectors import Point as Point
from ._vectors import Record as Record
from ._vectors import Scalar as Scalar
from ._vectors import ScoredPoint as ScoredPoint
from ._vectors import VectorStore as VectorStore

__all__ = [
    "code_for_status",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_LINE_BYTES",
    "Distance",
    "DocumentSource",
    "Embedder",
    "Filter",
    "HttpPort",
    "MatchValue",
    "Nearest",
    "Rrf",
    "SearchQuery",
    "SparseVector",
    "cap_groups",
    "fetch_sizes",
    "rrf_fuse",
    "rrf_score",
    "PayloadIndexKind",
    "Point",
    "Record",
    "Scalar",
    "ScoredPoint",
    "VectorStore",
    "check_texts",
]
