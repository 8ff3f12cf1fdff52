"""Test doubles of the RAG app's ports (never shipped: they live under the app's tests)."""

from ._hash_embedder import HashEmbedder as HashEmbedder
from ._memory import MemoryIndex as MemoryIndex

__all__ = ["HashEmbedder", "MemoryIndex"]
