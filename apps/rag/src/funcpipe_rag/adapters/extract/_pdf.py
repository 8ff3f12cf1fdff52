"""PDF -> text per page in reading order, with its page map (pypdfium2; runs in a worker).

The text of page ``i`` starts at ``marks.starts[i]``; pages are joined by a blank line. Each
page is normalised: ``\\r\\n`` and ``\\r`` -> ``\\n``, ligatures spelled out, soft hyphens
dropped (pdfium's end-of-line hyphen mark too), a word hyphenated across a line break joined,
then ``clean_text``; a short line (at most 80 characters) repeated at the top (or bottom) of
at least 3 pages (5 in a document of 25 pages or more), digits aside, is a running header
(footer) and is dropped (never a page's only line).
Codes: ENCRYPTED (a password is needed), DECODE_ERROR (not a
PDF pdfium can read: corrupt, truncated), TOO_LARGE (more pages than ``limits.max_pages``, or
more text than ``limits.max_chars``), NO_TEXT (no page has text: a scan; OCR is out of scope).
A ``.pdf`` that is HTML or text is read as what it is (``sniff``). Never raises.
"""

from __future__ import annotations

import re
from collections import Counter

import pypdfium2 as pdfium
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from funcpipe_rag.domain import PAGE, Marks, clean_text, looks_like_html
from funcpipe_rag.domain._locator import ENCRYPTED, NO_TEXT, Extracted, Limits

_LIGATURES = str.maketrans(
    {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
     "\ufb05": "st", "\ufb06": "st", "\u00ad": "", "\x02": "", "\ufffe": ""}
)  # fmt: skip
_HYPHEN_BREAK = re.compile(r"(?<=[^\W\d_])-[ \t]*\n[ \t]*(?=[a-z])")
_BLANKS = re.compile(r"[ \t]+\n")
_DIGITS = re.compile(r"\d+")
_RUNNING_MAX = 80  # a running header or footer is one short line


def _err(code: str, msg: str) -> Err[ErrInfo]:
    return Err(ErrInfo(code, msg, stage="extract"))


def normalise_page(text: str) -> str:
    """One page's text in normal form (see the module's rules)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_LIGATURES)
    text = _HYPHEN_BREAK.sub("", text)
    return _BLANKS.sub("\n", clean_text(text)).strip()


def _edge(lines: list[str], last: bool) -> str:
    line = lines[-1 if last else 0].strip() if lines else ""
    return _DIGITS.sub("#", line) if len(line) <= _RUNNING_MAX else ""


def _repeats(pages: int) -> int:
    """How many pages must share an edge line for it to be a running header: 3, and a fifth
    of the pages up to 5 (a book's headers name the chapter: they repeat per chapter)."""
    return max(3, min(5, pages // 5))


def drop_running(pages: list[str]) -> list[str]:
    """Pages without their running header and footer lines (see the module's rules)."""
    if len(pages) < 3:
        return pages
    out = [p.split("\n") for p in pages]
    for last in (False, True):
        seen = Counter(_edge(ls, last) for ls in out if len(ls) > 1)
        common = {k for k, n in seen.items() if k and n >= _repeats(len(pages))}
        for ls in out:
            if len(ls) > 1 and _edge(ls, last) in common:  # never a page's only line
                ls.pop(-1 if last else 0)
    return ["\n".join(ls).strip() for ls in out]


def sniff(data: bytes) -> Extracted | None:
    """A file that is not a PDF but UTF-8 text: read as HTML or text (else ``None``)."""
    if b"%PDF-" in data[:1024]:
        return None
    try:
        text = clean_text(data.decode("utf-8"))
    except UnicodeDecodeError:
        return None
    if "\x00" in text:
        return None
    return Extracted(text, "html" if looks_like_html(text) else "txt")


def extract_pdf(data: bytes, limits: Limits) -> Result[Extracted, ErrInfo]:
    """The text and page map of PDF ``data`` (see the module's rules)."""
    other = sniff(data)
    if other is not None:
        return Ok(other)
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            return _err(ENCRYPTED, "encrypted: a password is needed to read it")
        return _err(codes.DECODE_ERROR, f"not a readable PDF (corrupt or truncated): {exc}")
    try:
        return _pages(pdf, limits)
    except pdfium.PdfiumError as exc:
        return _err(codes.DECODE_ERROR, f"a page could not be read: {exc}")
    finally:
        pdf.close()


def _pages(pdf: pdfium.PdfDocument, limits: Limits) -> Result[Extracted, ErrInfo]:
    n = len(pdf)
    if n > limits.max_pages:
        return _err(codes.TOO_LARGE, f"{n} pages is over the limit of {limits.max_pages}")
    pages: list[str] = []
    size = 0
    for i in range(n):
        page = pdf[i]
        tp = page.get_textpage()
        text = normalise_page(tp.get_text_range())
        tp.close()
        page.close()
        size += len(text)
        if size > limits.max_chars:
            msg = f"over {limits.max_chars} characters of text by page {i + 1}"
            return _err(codes.TOO_LARGE, msg)
        pages.append(text)
    pages = drop_running(pages)
    if not any(pages):
        msg = f"no text layer in {n} page(s) (a scan?); OCR is out of scope"
        return _err(NO_TEXT, msg)
    starts: list[int] = []
    parts: list[str] = []
    at = 0
    for p in pages:
        starts.append(at)
        if p:
            if parts:
                parts.append("\n\n")
                at += 2
                starts[-1] = at
            parts.append(p)
            at += len(p)
    labels = tuple(pdf.get_page_label(i) or "" for i in range(n))
    title = " ".join(pdf.get_metadata_value("Title").split())
    return Ok(Extracted("".join(parts), "pdf", title, Marks(PAGE, tuple(starts), labels)))
