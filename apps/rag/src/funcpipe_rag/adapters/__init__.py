"""funcpipe_rag.adapters: the library's clients bound to the app's ports."""

from ._confine import OUTSIDE_ROOT as OUTSIDE_ROOT
from ._confine import Confine as Confine
from ._embedder import EmbedderPort as EmbedderPort
from ._index import PhaseObserver as PhaseObserver
from ._index import StoreIndex as StoreIndex
from ._index import encoder as encoder
from ._index import store_query as store_query
from ._sources import FileRaw as FileRaw
from ._sources import RootsSource as RootsSource
from ._sources import UrlRaw as UrlRaw
from ._sources import file_source as file_source
from ._sources import root_key as root_key
from ._sources import source_key as source_key
from ._sparse import Bm25Encoder as Bm25Encoder
from ._walk import Filters as Filters

__all__ = [
    "OUTSIDE_ROOT",
    "Confine",
    "Bm25Encoder",
    "EmbedderPort",
    "FileRaw",
    "Filters",
    "PhaseObserver",
    "RootsSource",
    "StoreIndex",
    "UrlRaw",
    "encoder",
    "file_source",
    "root_key",
    "source_key",
    "store_query",
]
