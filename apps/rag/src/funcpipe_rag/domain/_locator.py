"""Locators: where a span of an extracted document's text came from (PDF pages, DOCX blocks).

An extractor returns the text of a binary document with its ``Marks``: unit ``i`` (a page, or
a block) starts at ``starts[i]`` of the text and runs to ``starts[i + 1]`` (the last to the
end). Laws, for ``m = Marks(unit, starts, labels)`` with ``starts`` ascending from 0: every
offset ``0 <= p < len(text)`` lies in exactly one unit, ``m.at(p)``; an empty unit (a blank
page) owns no offset, so a span's units are the units its characters came from; ``locate``
of a span names its first and last unit (equal when it stays in one: a span that crosses a
page says so by ``page_end``). Nothing here raises on odd input.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import TypeAlias

PAGE = "page"
BLOCK = "block"

Locator: TypeAlias = tuple[tuple[str, int | str], ...]
"""A span's locator as ``(name, value)`` pairs, in a fixed order: for PDF ``page``,
``page_end`` (1-based page numbers), ``page_label``, ``page_label_end`` (the printed labels
where the file defines them, else the page numbers); for DOCX ``block``, ``block_end``
(0-based block indices: paragraphs and tables in document order)."""


@dataclass(frozen=True, slots=True)
class Marks:
    """Where each unit (``page`` or ``block``) of an extracted text starts, and its label."""

    unit: str
    starts: tuple[int, ...]
    labels: tuple[str, ...] = ()

    def at(self, pos: int) -> int:
        """The index of the unit holding text offset ``pos`` (the last of equal starts)."""
        return max(0, bisect_right(self.starts, pos) - 1)

    def label(self, i: int) -> str:
        """Unit ``i``'s printed label (a PDF page's number when the file gives none)."""
        got = self.labels[i] if i < len(self.labels) else ""
        return got or str(i + 1)


def locate(marks: Marks | None, start: int, end: int) -> Locator:
    """The locator of text ``[start, end)`` (``()`` without marks or for an empty span)."""
    if marks is None or not marks.starts or end <= start:
        return ()
    first, last = marks.at(start), marks.at(end - 1)
    if marks.unit == PAGE:
        return (
            ("page", first + 1),
            ("page_end", last + 1),
            ("page_label", marks.label(first)),
            ("page_label_end", marks.label(last)),
        )
    return ((f"{marks.unit}", first), (f"{marks.unit}_end", last))


def cite(source: str, locator: Locator) -> str:
    """How a person cites a span: ``file.pdf p. 12-13`` (printed labels), ``file.docx
    block 4``, or just the source."""
    loc = dict(locator)
    if "page_label" in loc:
        a, b = loc["page_label"], loc.get("page_label_end", loc["page_label"])
        return f"{source} p. {a}" if a == b else f"{source} p. {a}-{b}"
    if "block" in loc:
        a, b = loc["block"], loc.get("block_end", loc["block"])
        return f"{source} block {a}" if a == b else f"{source} blocks {a}-{b}"
    return source


def locator_of(data: object) -> Locator | None:
    """A stored locator (a JSON object of str/int values) back as pairs; ``None`` when bad."""
    if not isinstance(data, dict):
        return None
    out: list[tuple[str, int | str]] = []
    for k, v in data.items():
        if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, int | str):
            return None
        out.append((k, v))
    return tuple(out)


ENCRYPTED = "ENCRYPTED"
"""A document that needs a password to be read."""
NO_TEXT = "NO_TEXT"
"""A document without a text layer (a scan: OCR is out of scope)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one extraction may cost: pages, characters of text, bytes (decompressed), and
    seconds (a worker past it is killed: TIMEOUT)."""

    max_pages: int = 5_000
    max_chars: int = 8 * 1024 * 1024
    max_bytes: int = 256 * 1024 * 1024
    seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class Extracted:
    """A binary document's text as its extractor read it: ``kind`` says how to read the text
    (``pdf``: plain text; ``docx``: Markdown; a sniffed ``html`` or ``txt`` impostor), ``marks``
    where its units start."""

    text: str
    kind: str
    title: str = ""
    marks: Marks | None = None
