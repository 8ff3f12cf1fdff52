"""Test doubles of the RAG app's ports and test specs (never shipped: they live under the
app's tests)."""

from ._hash_embedder import HashEmbedder as HashEmbedder
from ._memory import MemoryIndex as MemoryIndex
from ._replay import ReplayingShards as ReplayingShards
from ._replay import TwiceEmbedder as TwiceEmbedder
from ._resolver import FlipResolver as FlipResolver
from ._served import Served as Served
from ._served import serve as serve
from ._specs import fast_retry_spec as fast_retry_spec
from ._stored import drive as drive
from ._stored import stored as stored

__all__ = [
    "FlipResolver",
    "Served",
    "serve",
    "HashEmbedder",
    "MemoryIndex",
    "ReplayingShards",
    "TwiceEmbedder",
    "drive",
    "fast_retry_spec",
    "stored",
]
