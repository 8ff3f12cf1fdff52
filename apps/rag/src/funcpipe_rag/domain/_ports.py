"""Ports: what the pipelines need from the world, in the app's own terms.

Every method is plain (not async) and returns a description (an AsyncPlan or AsyncGen); nothing
happens until a runtime drives it. Failures are ``Err(ErrInfo)`` values with a taxonomy code
(TRANSIENT, RATE_LIMIT, TIMEOUT, NETWORK, DB_ERROR, ...), never exceptions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from funcpipe.async_plan import AsyncPlan
from funcpipe.result import ErrInfo, Result
from funcpipe.streams import AsyncGen

from ._locator import Extracted
from ._retrieval import Bm25Params, IndexQuery
from ._sync import CollectionInfo, CollectionStamp
from ._types import (
    ChunkRecord,
    CommitRecord,
    EmbeddedChunk,
    EmbedderId,
    SearchHit,
    StoredRecord,
    Vector,
)

Room = Callable[[int], Result[None, ErrInfo]]
"""Whether ``n`` more bytes (plus a margin) fit under the store's data dir: ``Ok`` or
``Err(NO_SPACE)``. A synchronous check (one ``statvfs``); ``None`` where the store is remote."""


class RawSource(Protocol):
    """One source found by a ``DocumentSource``: its key and a plan that reads its text.

    ``read(max_bytes)`` gives the UTF-8 text, or an Err: NOT_FOUND, PERMISSION_DENIED,
    TOO_LARGE, DECODE_ERROR (invalid UTF-8 or binary), EMPTY_INPUT, NETWORK, TIMEOUT, ...
    """

    @property
    def key(self) -> str: ...

    def read(self, max_bytes: int) -> AsyncPlan[str]: ...


@runtime_checkable
class BinarySource(Protocol):
    """A ``RawSource`` read as bytes and extracted (PDF, DOCX, plug-in formats).

    ``identity`` names its extractor and version (``pypdfium2/4.30.0``): part of the raw
    hash, so a new extractor re-extracts on purpose. ``read_bytes`` gives the bytes (the
    same errors as ``read``); ``extract(data)`` the text with its locator map, or ENCRYPTED,
    NO_TEXT, DECODE_ERROR, TOO_LARGE, TIMEOUT.
    """

    @property
    def key(self) -> str: ...

    @property
    def identity(self) -> str: ...

    def read(self, max_bytes: int) -> AsyncPlan[str]: ...

    def read_bytes(self, max_bytes: int) -> AsyncPlan[bytes]: ...

    def extract(self, data: bytes) -> AsyncPlan[Extracted]: ...


class DocumentSource(Protocol):
    """Finds the sources under some roots (files, directories, URLs) in a stable order.

    An ``Err`` item (unreadable directory, symlink loop, unreachable URL) carries the source key
    in ``path[0]``; the stream goes on after it.
    """

    def sources(self) -> AsyncGen[RawSource]: ...


class Embedder(Protocol):
    """Turns texts into vectors of one fixed dimension, in input order."""

    @property
    def identity(self) -> EmbedderId: ...

    def embed(self, texts: Sequence[str]) -> AsyncPlan[list[Vector]]: ...


class VectorIndex(Protocol):
    """The store as the app sees it: chunk points and per-source commit markers."""

    def ensure(self, dim: int, sparse: bool = False) -> AsyncPlan[None]:
        """Create the collection if missing (with the BM25 sparse vector when ``sparse``); an
        existing one must have dimension ``dim`` (DIMENSION_MISMATCH) and, when ``sparse``, the
        sparse vector (INVALID_INPUT)."""
        ...

    def info(self) -> AsyncPlan[CollectionInfo | None]:
        """The collection's stamp and dimension; ``None`` when it does not exist."""
        ...

    def write_stamp(self, stamp: CollectionStamp) -> AsyncPlan[None]:
        """Record the collection's stamp (after ``ensure``)."""
        ...

    def commits(self) -> AsyncPlan[list[CommitRecord]]:
        """Every commit marker."""
        ...

    def chunks_of(self, sources: Sequence[str]) -> AsyncPlan[list[ChunkRecord]]:
        """Every chunk point of the given sources (one query for a group of sources)."""
        ...

    def scan(self) -> AsyncPlan[tuple[list[StoredRecord], list[str]]]:
        """Every point but the stamp: the records, and the ids of points whose payload is not
        ours."""
        ...

    def vectors(self, ids: Sequence[str]) -> AsyncPlan[dict[str, Vector]]:
        """Stored vectors of the given ids (missing ids are left out)."""
        ...

    def upsert_chunks(
        self, points: Sequence[EmbeddedChunk], bm25: Bm25Params | None = None
    ) -> AsyncPlan[None]:
        """Upsert chunk points; with ``bm25``, each gets the BM25 vector of its
        ``indexed_text`` under those parameters (the collection must be sparse)."""
        ...

    def upsert_commits(self, commits: Sequence[CommitRecord]) -> AsyncPlan[None]: ...

    def delete(self, ids: Sequence[str]) -> AsyncPlan[None]: ...

    def search(self, query: IndexQuery) -> AsyncPlan[list[SearchHit]]:
        """The best chunk points for ``query``, best first (markers never appear)."""
        ...
