"""Test doubles of the RAG app's ports and test specs (never shipped: they live under the
app's tests)."""

from ._hash_embedder import HashEmbedder as HashEmbedder
from ._memory import MemoryIndex as MemoryIndex
from ._replay import ReplayingShards as ReplayingShards
from ._replay import TwiceEmbedder as TwiceEmbedder
from ._specs import fast_retry_spec as fast_retry_spec

__all__ = ["HashEmbedder", "MemoryIndex", "ReplayingShards", "TwiceEmbedder", "fast_retry_spec"]
