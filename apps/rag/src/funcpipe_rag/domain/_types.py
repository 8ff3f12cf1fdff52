"""The app's vocabulary: documents, chunks, stored records, search hits, embedder identity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from ._locator import Locator, Marks, locator_of
from ._markup import Readable

Vector: TypeAlias = Sequence[float]
"""An embedding vector (any sequence of floats)."""

KIND_CHUNK = "chunk"
KIND_COMMIT = "commit"


@dataclass(frozen=True, slots=True)
class EmbedderId:
    """Who made a vector: model id and dimension. Part of every point id."""

    model: str
    dim: int

    def __str__(self) -> str:
        return f"{self.model}@{self.dim}"


@dataclass(frozen=True, slots=True)
class Document:
    """One parsed, cleaned document. ``version`` is the sha256 of ``text`` (never mtime); of
    an extracted one (PDF, DOCX), of its extractor's identity and ``text``."""

    source: str
    text: str
    version: str
    kind: str
    title: str = ""
    raw_hash: str = ""  # sha256 of the source's raw text, when it is the only document
    marks: Marks | None = None  # extracted documents (PDF pages, DOCX blocks): see _locator
    view: Readable | None = field(default=None, compare=False, repr=False)
    """``readable(text, kind)`` when parsing made it already (chunking then reuses it: one
    ``readable`` per document); never part of a document's identity."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document: ``text`` is its readable text (markup, navigation and anchors
    removed: what is embedded and indexed), ``document.text[start:end]`` the span of the source
    text it was read from (it starts with the first readable character's source and ends with
    the last one's).

    ``occurrence`` counts earlier chunks with identical text in the same document, so repeated
    paragraphs keep distinct identities. ``title`` is the document's title, ``headings`` the
    heading path the chunk sits under (outermost first).
    """

    source: str
    doc_version: str
    start: int
    end: int
    text: str
    chunk_hash: str
    occurrence: int
    title: str = ""
    headings: tuple[str, ...] = ()


def context_line(title: str, headings: Sequence[str]) -> str:
    """``title > heading > subheading`` (empty parts and repeats left out)."""
    return " > ".join(dict.fromkeys(x for x in (title, *headings) if x))


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    """A chunk point as the store holds it (payload fields plus the point id)."""

    id: str
    source: str
    doc_version: str
    chunk_hash: str
    occurrence: int
    start: int
    end: int
    text: str
    embedder: str
    spec_hash: str
    title: str = ""
    headings: tuple[str, ...] = ()
    locator: Locator = ()  # PDF pages / DOCX blocks of [start, end) (see _locator)

    @property
    def indexed_text(self) -> str:
        """What is embedded and BM25-indexed: ``context_line`` of the title and heading path
        (so a chunk that never names its topic is still found by it), then the text."""
        context = context_line(self.title, self.headings)
        return f"{context}\n\n{self.text}" if context else self.text

    def payload(self) -> dict[str, object]:
        extra: dict[str, object] = {"locator": dict(self.locator)} if self.locator else {}
        return {
            **extra,
            "kind": KIND_CHUNK,
            "source": self.source,
            "doc_version": self.doc_version,
            "chunk_hash": self.chunk_hash,
            "occurrence": self.occurrence,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "embedder": self.embedder,
            "spec_hash": self.spec_hash,
            "title": self.title,
            "headings": list(self.headings),
        }


@dataclass(frozen=True, slots=True)
class CommitRecord:
    """The per-source commit marker: the source is complete at ``doc_version``.

    ``chunk_set_hash`` is the sha256 of the sorted chunk ids; ``chunk_count`` their number.
    ``raw_hash`` (when the source is one document) is the sha256 of its raw text: a re-run
    that reads the same raw text skips parsing it.
    """

    id: str
    source: str
    doc_version: str
    embedder: str
    spec_hash: str
    chunk_count: int
    chunk_set_hash: str
    raw_hash: str = ""

    def payload(self) -> dict[str, object]:
        extra: dict[str, object] = {"raw_hash": self.raw_hash} if self.raw_hash else {}
        return {
            **extra,
            "kind": KIND_COMMIT,
            "source": self.source,
            "doc_version": self.doc_version,
            "embedder": self.embedder,
            "spec_hash": self.spec_hash,
            "chunk_count": self.chunk_count,
            "chunk_set_hash": self.chunk_set_hash,
        }


StoredRecord: TypeAlias = ChunkRecord | CommitRecord


@dataclass(frozen=True, slots=True)
class EmbeddedChunk:
    """A chunk record with its vector, ready to upsert."""

    record: ChunkRecord
    vector: Vector


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result; ``start``/``end`` are character offsets into the source text,
    ``text`` the chunk's readable text, ``title``/``headings`` where it is in its document."""

    score: float
    source: str
    chunk_id: str
    start: int
    end: int
    text: str
    title: str = ""
    headings: tuple[str, ...] = ()
    locator: Locator = ()

    def to_json(self) -> dict[str, object]:
        """The hit as JSON; ``locator`` (an object) only for extracted documents."""
        extra: dict[str, object] = {"locator": dict(self.locator)} if self.locator else {}
        return {
            "score": self.score,
            "source": self.source,
            "chunk_id": self.chunk_id,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "title": self.title,
            "headings": list(self.headings),
            **extra,
        }


def _int(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def record_from_payload(point_id: str, payload: Mapping[str, object]) -> StoredRecord | None:
    """Read a stored payload back into a record; ``None`` when it is not one of ours."""
    kind = payload.get("kind")
    s = {k: payload.get(k) for k in ("source", "doc_version", "embedder", "spec_hash")}
    if not all(isinstance(v, str) for v in s.values()):
        return None
    source, version, embedder, spec_hash = (str(s[k]) for k in s)
    if kind == KIND_CHUNK:
        start, end, occ = (
            _int(payload.get("start")),
            _int(payload.get("end")),
            _int(payload.get("occurrence")),
        )
        chunk_hash, text = payload.get("chunk_hash"), payload.get("text")
        if start is None or end is None or occ is None:
            return None
        if not isinstance(chunk_hash, str) or not isinstance(text, str):
            return None
        title, headings = payload.get("title", ""), payload.get("headings", [])
        if not isinstance(title, str) or not isinstance(headings, list):
            return None
        if not all(isinstance(h, str) for h in headings):
            return None
        locator = locator_of(payload.get("locator", {}))
        if locator is None:
            return None
        return ChunkRecord(
            point_id,
            source,
            version,
            chunk_hash,
            occ,
            start,
            end,
            text,
            embedder,
            spec_hash,
            title,
            tuple(str(h) for h in headings),
            locator,
        )
    if kind == KIND_COMMIT:
        count, set_hash = _int(payload.get("chunk_count")), payload.get("chunk_set_hash")
        if count is None or not isinstance(set_hash, str):
            return None
        raw = payload.get("raw_hash")
        raw_hash = raw if isinstance(raw, str) else ""
        return CommitRecord(
            point_id, source, version, embedder, spec_hash, count, set_hash, raw_hash
        )
    return None
