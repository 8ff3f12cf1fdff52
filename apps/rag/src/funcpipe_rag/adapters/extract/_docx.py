"""DOCX -> Markdown text, block by block, with its block map (python-docx; runs in a worker).

Paragraphs and tables in document order, each one block (``marks.starts[i]``), joined by a
blank line; a paragraph styled ``Heading N`` becomes a level-N Markdown heading (the heading
path of the chunks under it), ``Title`` a level-1 one; a table is one line per row, its cells
joined by `` | ``. The title is the core properties' title, else the first heading. Codes:
ENCRYPTED (an encrypted Office file: an OLE container, not a zip), DECODE_ERROR (not a
readable DOCX), TOO_LARGE (over ``limits.max_bytes`` decompressed, or ``limits.max_chars`` of
text), EMPTY_INPUT (no text). Never raises.
"""

from __future__ import annotations

import io
import re
import zipfile

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from funcpipe_rag.domain import BLOCK, Marks, clean_text
from funcpipe_rag.domain._locator import ENCRYPTED, Extracted, Limits

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADING = re.compile(r"heading\s*([1-9])$", re.I)


def _err(code: str, msg: str) -> Err[ErrInfo]:
    return Err(ErrInfo(code, msg, stage="extract"))


def _one_line(text: str) -> str:
    return " ".join(clean_text(text).split())


def _level(p: Paragraph) -> int:
    name = p.style.name if p.style is not None and p.style.name else ""
    if name.lower() == "title":
        return 1
    m = _HEADING.match(name.strip())
    return int(m.group(1)) if m else 0


def _blocks(d: docx.document.Document) -> list[tuple[str, int]]:
    """``(text, heading level)`` of each non-empty block in document order."""
    out: list[tuple[str, int]] = []
    for child in d.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            p = Paragraph(child, d)
            text = _one_line(p.text)
            if text:
                out.append((text, _level(p)))
        elif tag == "tbl":
            rows = [" | ".join(_one_line(c.text) for c in r.cells) for r in Table(child, d).rows]
            text = "\n".join(r for r in rows if r.strip(" |"))
            if text:
                out.append((text, 0))
    return out


def extract_docx(data: bytes, limits: Limits) -> Result[Extracted, ErrInfo]:
    """The Markdown text and block map of DOCX ``data`` (see the module's rules)."""
    if data.startswith(_OLE):
        return _err(ENCRYPTED, "an encrypted (or legacy binary) Office file; not readable")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            unpacked = sum(i.file_size for i in z.infolist())
        if unpacked > limits.max_bytes:
            msg = f"{unpacked} bytes decompressed is over the limit of {limits.max_bytes}"
            return _err(codes.TOO_LARGE, msg)
        d = docx.Document(io.BytesIO(data))
        blocks = _blocks(d)
        core_title = _one_line(d.core_properties.title or "")
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError, SyntaxError) as exc:
        return _err(codes.DECODE_ERROR, f"not a readable DOCX: {type(exc).__name__}: {exc}")
    starts: list[int] = []
    parts: list[str] = []
    at = 0
    for text, level in blocks:
        piece = f"{'#' * level} {text}" if level else text
        if parts:
            parts.append("\n\n")
            at += 2
        starts.append(at)
        parts.append(piece)
        at += len(piece)
        if at > limits.max_chars:
            return _err(codes.TOO_LARGE, f"over {limits.max_chars} characters of text")
    if not parts:
        return _err(codes.EMPTY_INPUT, "no text in the document")
    heads = [t for t, lv in blocks if lv]
    title = core_title or (heads[0] if heads else "")
    return Ok(Extracted("".join(parts), "docx", title, Marks(BLOCK, tuple(starts))))
