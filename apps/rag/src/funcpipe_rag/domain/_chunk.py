"""Chunking of a document's readable text, with exact source offsets (semantic-text-splitter).

Laws: ``c.text`` is a piece of ``readable(doc.text, doc.kind).text``; ``doc.text[c.start:c.end]``
is its source span (it starts where the piece's first character came from and ends after its
last; for txt and jsonl ``doc.text[c.start:c.end] == c.text``); chunks are in document order;
no chunk is longer than ``max_chars`` or crosses a section; the same text and config give the
same chunks.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

from semantic_text_splitter import TextSplitter

from ._identity import chunk_hash
from ._locator import PAGE, Marks
from ._markup import Readable, readable
from ._types import Chunk, Document


@dataclass(frozen=True, slots=True)
class ChunkingConfig:
    """Chunk size and overlap in characters (overlap is best effort, by whole units)."""

    max_chars: int = 1000
    overlap: int = 100

    def __post_init__(self) -> None:
        if not isinstance(self.max_chars, int) or self.max_chars < 16:
            raise ValueError(f"ChunkingConfig.max_chars must be an int >= 16, got {self.max_chars}")
        if not isinstance(self.overlap, int) or not 0 <= self.overlap < self.max_chars:
            raise ValueError(
                f"ChunkingConfig.overlap must be an int in [0, max_chars), got {self.overlap}"
            )


@lru_cache(maxsize=16)
def _splitter(max_chars: int, overlap: int) -> TextSplitter:
    return TextSplitter(max_chars, overlap=overlap)


def blocks(text: str, size: int) -> list[tuple[int, str]]:
    """Cut ``text`` into ``(offset, block)`` pieces of at most ``size`` characters.

    Cuts fall at the last blank line, else newline, else whitespace before the limit (a hard
    cut only inside one unbroken run). The splitter's time grows quadratically with the length
    of a text without boundaries (a single enormous line); blocks keep it linear.
    """
    out: list[tuple[int, str]] = []
    at, n = 0, len(text)
    while n - at > size:
        window = text[at : at + size]
        cut = -1
        for sep in ("\n\n", "\n", " ", "\t"):
            cut = window.rfind(sep)
            if cut > size // 4:
                cut += len(sep)
                break
            cut = -1
        cut = cut if cut > 0 else size
        out.append((at, text[at : at + cut]))
        at += cut
    if at < n:
        out.append((at, text[at:]))
    return out


def sections(view: Readable) -> list[tuple[int, int]]:
    """``[start, end)`` ranges of ``view.text`` cut at its headings, in order and covering it.

    A section that holds nothing but its heading (one paragraph) joins the next, so a heading
    does not become a chunk of its own.
    """
    cuts = [0]
    for pos in view.heading_pos:
        if pos > cuts[-1] and "\n\n" in view.text[cuts[-1] : pos].strip():
            cuts.append(pos)
    return list(zip(cuts, [*cuts[1:], len(view.text)], strict=True))


def at_pages(ranges: list[tuple[int, int]], marks: Marks | None) -> list[tuple[int, int]]:
    """``ranges`` cut again where each page of ``marks`` starts (other units: unchanged)."""
    if marks is None or marks.unit != PAGE:
        return ranges
    out: list[tuple[int, int]] = []
    for a, z in ranges:
        cuts = [a, *(p for p in marks.starts if a < p < z), z]
        out += [(x, y) for x, y in itertools.pairwise(cuts) if x < y]
    return out


def chunk_document(doc: Document, config: ChunkingConfig) -> list[Chunk]:
    """Split ``doc``'s readable text into chunks; identical texts are numbered by ``occurrence``.

    Chunks never cross a section boundary (see ``sections``), nor a page of an extracted PDF
    (its readable text is its text, so page offsets are readable offsets): a PDF chunk cites
    one page. Each carries the document's title (``doc.title``, else the markup's) and the
    heading path in force where it starts.
    """
    view = doc.view if doc.view is not None else readable(doc.text, doc.kind)
    title = doc.title or view.title
    splitter = _splitter(config.max_chars, config.overlap)
    size = max(16 * config.max_chars, 4096)
    seen: dict[str, int] = {}
    out: list[Chunk] = []
    pieces = [
        (a + base + start, piece)
        for a, z in at_pages(sections(view), doc.marks if doc.kind == "pdf" else None)
        for base, block in blocks(view.text[a:z], size)
        for start, piece in splitter.chunk_indices(block)
    ]
    for at, piece in pieces:
        if not piece.strip():
            continue
        h = chunk_hash(piece)
        occ = seen.get(h, 0)
        seen[h] = occ + 1
        start, end = view.span(at, at + len(piece))
        headings = view.headings_at(at)
        out.append(Chunk(doc.source, doc.version, start, end, piece, h, occ, title, headings))
    return out
