"""funcpipe.adapters: the runtime (the only code that drives plans) and real I/O adapters.

Importing this package needs no optional dependency. Submodules, by extra:

- ``funcpipe.adapters.runtime``: perform_async, stream drivers, blocking helpers, run_main.
- ``funcpipe.adapters.vectors`` / ``.embedders``: the VectorStore and Embedder interfaces.
- ``.files`` ``[files]``, ``.http`` ``[http]``, ``.qdrant`` ``[qdrant]``, ``.edge`` ``[edge]``,
  ``.embed`` ``[embed]``: the implementations.
"""

from .embedders import Embedder as Embedder
from .vectors import Filter as Filter
from .vectors import Point as Point
from .vectors import Record as Record
from .vectors import ScoredPoint as ScoredPoint
from .vectors import VectorStore as VectorStore

__all__ = ["Embedder", "Filter", "Point", "Record", "ScoredPoint", "VectorStore"]
