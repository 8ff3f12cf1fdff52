"""``show SOURCE --span START:END``: the text that offsets of a source's chunks point into.

Law: for every chunk of a source ingested from ``path``, ``source_text(path)[c.start:c.end]``
is the span the chunk cites: for PDF (and text) exactly its text; for markup, the source
around its readable text. The text is what the ingest read: a text file's clean form, an
extracted document's text (PDF pages, DOCX as Markdown) from the same extractor. Codes:
NOT_FOUND (no such file), UNSUPPORTED (no parser for it), INVALID_INPUT (a span outside the
text), and the extractor's (ENCRYPTED, NO_TEXT, DECODE_ERROR, TOO_LARGE, TIMEOUT).
"""

from __future__ import annotations

import os
from pathlib import Path

from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from funcpipe_rag.adapters import RootsSource
from funcpipe_rag.adapters.extract import ExtractPool
from funcpipe_rag.domain import BinarySource, clean_text
from funcpipe_rag.domain import cite as cite
from funcpipe_rag.pipelines import DEFAULT_MAX_BYTES


def resolve_source(source: str, base: Path | None) -> str:
    """A file path as given, else the path its key names under ``base`` (keys are relative
    to the key base), else as given."""
    if os.path.exists(source) or base is None:
        return source
    under = base / source
    return str(under) if under.exists() else source


async def source_text(path: str, *, jobs: int | None = 0) -> Result[str, ErrInfo]:
    """The text the chunks of file ``path`` point into (see the module's law)."""
    pool = ExtractPool(jobs)
    src = RootsSource([path], base=None, pool=pool)
    try:
        async for item in src.sources()():
            if isinstance(item, Err):
                return item
            raw = item.value
            got = await raw.read(DEFAULT_MAX_BYTES)()
            if isinstance(got, Err) or isinstance(raw, BinarySource):
                return got
            return Ok(clean_text(got.value))
        return Err(ErrInfo(codes.NOT_FOUND, f"{path}: nothing to read", stage="read"))
    finally:
        pool.close()


def span_of(text: str, span: str) -> Result[str, ErrInfo]:
    """``text[START:END]`` for ``span`` = ``START:END`` (0 <= START <= END <= len(text))."""
    a, sep, b = span.partition(":")
    try:
        start, end = int(a), int(b)
    except ValueError:
        start, end = -1, -1
    if not sep or not 0 <= start <= end <= len(text):
        msg = f"--span {span!r}: expected START:END within 0:{len(text)}"
        return Err(ErrInfo(codes.INVALID_INPUT, msg, stage="usage"))
    return Ok(text[start:end])
