"""Test doubles of the RAG app's ports and test specs (never shipped: they live under the
app's tests)."""

from ._documents import blank_pdf as blank_pdf
from ._documents import image_only_pdf as image_only_pdf
from ._documents import make_docx as make_docx
from ._documents import make_pdf as make_pdf
from ._hash_embedder import HashEmbedder as HashEmbedder
from ._memory import MemoryIndex as MemoryIndex
from ._replay import ReplayingShards as ReplayingShards
from ._replay import TwiceEmbedder as TwiceEmbedder
from ._resolver import FlipResolver as FlipResolver
from ._served import KEY as KEY
from ._served import Server as Server
from ._served import clean_env as clean_env
from ._served import cli as cli
from ._served import start as start
from ._specs import fast_retry_spec as fast_retry_spec
from ._stored import drive as drive
from ._stored import stored as stored

__all__ = [
    "KEY",
    "FlipResolver",
    "Server",
    "clean_env",
    "cli",
    "start",
    "blank_pdf",
    "image_only_pdf",
    "make_docx",
    "make_pdf",
    "HashEmbedder",
    "MemoryIndex",
    "ReplayingShards",
    "TwiceEmbedder",
    "drive",
    "fast_retry_spec",
    "stored",
]
