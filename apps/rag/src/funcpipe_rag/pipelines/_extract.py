"""The read stage for a binary source (PDF, DOCX, plug-ins): bytes -> hash -> extract.

An unchanged file (same bytes, same extractor identity) costs a read and a hash: its raw hash
is ``sha256(identity, bytes)``, so the committed marker says it is current and nothing is
extracted. Otherwise the source's extractor runs (in the adapter's worker pool) and gives one
document: its extracted text (offsets and ``show --span`` refer to it), kind, title and
locator marks. The extractor's identity (name/version) is part of the document's version
too (``sha256(identity, text)``): a new extractor re-extracts each such file once, on
purpose, and rewrites its chunks' payloads and marker (offsets never mix two extractors'
texts); text files and their chunks are untouched. A ``.pdf`` that is really HTML or text
comes back as that kind. Errors are the source's one ``Err`` (stage ``read`` or ``extract``,
``path[0]`` the key).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable

from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from funcpipe_rag.domain import BinarySource, Document, Stage, doc_version, parse_text

from ._types import Unchanged

Parsed = list[Result[Document | Unchanged, ErrInfo]]
_HASH_INLINE = 1 << 20


def raw_hash_of(identity: str, data: bytes) -> str:
    """The raw hash of a binary source: its bytes under its extractor's identity."""
    h = hashlib.sha256(identity.encode("utf-8"))
    h.update(b"\n")
    h.update(data)
    return h.hexdigest()


def _at(e: ErrInfo, stage: str, key: str) -> Parsed:
    return [Err(ErrInfo(e.code, e.msg, e.stage or stage, (key,), e.cause, e.ctx))]


async def read_binary(
    raw: BinarySource,
    max_bytes: int,
    current: Callable[[str, str], Awaitable[str | None]],
) -> Parsed:
    """One binary source's documents (see the module's rules); ``current(key, raw_hash)``
    gives its committed document version when it was written from this very raw hash (the
    source is then ``Unchanged``: nothing is extracted)."""
    got = await raw.read_bytes(max_bytes)()
    if isinstance(got, Err):
        return _at(got.error, Stage.READ, raw.key)
    data = got.value
    if len(data) > _HASH_INLINE:  # hashing 100 MB takes a while: a thread does it
        raw_hash = await asyncio.to_thread(raw_hash_of, raw.identity, data)
    else:
        raw_hash = raw_hash_of(raw.identity, data)
    known = await current(raw.key, raw_hash)
    if known is not None:
        return [Ok(Unchanged(raw.key, known))]
    ex = await raw.extract(data)()
    if isinstance(ex, Err):
        return _at(ex.error, Stage.EXTRACT, raw.key)
    x = ex.value
    if x.marks is None:  # sniffed: HTML or text under a binary extension
        docs: list[Result[Document, ErrInfo]] = parse_text(raw.key, x.text, x.kind)
    elif not x.text.strip():
        msg = "no readable text"
        return _at(ErrInfo(codes.EMPTY_INPUT, msg), Stage.EXTRACT, raw.key)
    else:
        version = doc_version(f"{raw.identity}\n{x.text}")
        docs = [Ok(Document(raw.key, x.text, version, x.kind, x.title, "", x.marks))]
    return [Ok(_with_hash(d.value, raw_hash)) if isinstance(d, Ok) else d for d in docs]


def _with_hash(d: Document, raw_hash: str) -> Document:
    return Document(d.source, d.text, d.version, d.kind, d.title, raw_hash, d.marks)
