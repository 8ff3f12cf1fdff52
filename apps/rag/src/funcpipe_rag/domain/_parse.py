"""Parsing: bytes or text of one source -> documents (or one typed error per bad part).

A document's text is the clean source (HTML included: chunk offsets point into the file); its
title, unless the source gives one, is that of its markup (``readable``).

Error codes: EMPTY_INPUT (no readable text: whitespace or markup only), UNSUPPORTED (unknown
extension, binary data), DECODE_ERROR (invalid UTF-8), TOO_LARGE (over the size limit),
PARSE_ERROR (a broken JSONL line; the other lines go on). Every error's ``path[0]`` is the
source key it belongs to.
"""

from __future__ import annotations

import json
import posixpath

from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from ._clean import clean_text
from ._failures import Stage
from ._identity import doc_version, is_url
from ._markup import Readable, readable
from ._types import Document

KINDS: dict[str, str] = {
    ".md": "md",
    ".markdown": "md",
    ".txt": "txt",
    ".text": "txt",
    ".rst": "rst",
    ".html": "html",
    ".htm": "html",
    ".jsonl": "jsonl",
    ".pdf": "pdf",
    ".docx": "docx",
}
"""File extension -> document kind."""

SUPPORTED_EXTENSIONS = frozenset(KINDS)

BINARY_KINDS = frozenset({"pdf", "docx"})
"""Kinds read as bytes and extracted (adapters), never decoded as text."""

MARKUP_SUFFIXES: dict[str, str] = {".rst": "rst", ".md": "md", ".markdown": "md"}
"""A markup suffix before ``.txt`` names the markup: Sphinx ships its page sources as
``_sources/NAME.rst.txt``."""


def _err(code: str, key: str, msg: str, origin: str = "") -> Err[ErrInfo]:
    """A parse failure at ``key``; ``origin``: the file or URL a record key (``key#L3``)
    belongs to, which the failure protects from ``--prune`` as a whole."""
    ctx = {"origin": origin} if origin else {}
    return Err(ErrInfo(code, msg, stage=Stage.PARSE, path=(key,), ctx=ctx))


def kind_of(key: str, content_type: str = "") -> str | None:
    """The document kind of a source key (by extension; URLs also by content type).

    Only a URL has a query or fragment to ignore: in a file's key, ``#`` and ``?`` are
    characters of its name (``x#y.md`` is Markdown). A file ``x.md.gz`` is read decompressed:
    its kind is that of ``x.md``. A double suffix names the markup: ``x.rst.txt`` is reST,
    ``x.md.txt`` Markdown (the key keeps the real name).
    """
    path = key.split("?", 1)[0].split("#", 1)[0] if is_url(key) else key
    if not is_url(key) and path.lower().endswith(".gz"):
        path = path[:-3]
    stem, ext = posixpath.splitext(path)
    ext = ext.lower()
    if ext in (".txt", ".text"):
        inner = posixpath.splitext(stem)[1].lower()
        if inner in MARKUP_SUFFIXES:
            return MARKUP_SUFFIXES[inner]
    if ext in KINDS:
        return KINDS[ext]
    if is_url(key):
        ct = content_type.lower()
        if "html" in ct:
            return "html"
        if "json" in ct and "jsonl" in key:
            return "jsonl"
        return "txt" if (not ct or ct.startswith("text/")) else None
    return None


def looks_like_html(text: str) -> bool:
    """True when a text starts like an HTML page (for URLs served without an extension)."""
    head = text.lstrip()[:200].lower()
    return head.startswith(("<!doctype html", "<html"))


def decode_source(key: str, data: bytes, max_bytes: int) -> Result[str, ErrInfo]:
    """Strict UTF-8 decoding with the size and binary checks."""
    if len(data) > max_bytes:
        return _err(codes.TOO_LARGE, key, f"{len(data)} bytes is over the limit of {max_bytes}")
    if b"\x00" in data[:65536]:
        return _err(codes.UNSUPPORTED, key, "binary content (NUL bytes); not a text document")
    try:
        return Ok(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return _err(codes.DECODE_ERROR, key, f"invalid UTF-8 at byte {exc.start}")


def make_document(
    source: str, text: str, kind: str, title: str = "", view: Readable | None = None
) -> Document:
    """A document of clean ``text``; ``view``: its readable form, when already made."""
    return Document(source, text, doc_version(text), kind, title, view=view)


def html_to_text(html: str) -> tuple[str, str]:
    """Readable text and title of an HTML page (navigation, scripts, anchors left out)."""
    view = readable(clean_text(html), "html")
    return view.text, view.title


def _one(
    key: str, text: str, kind: str, title: str = "", origin: str = ""
) -> Result[Document, ErrInfo]:
    """One document of clean ``text``; its title, when not given, is that of its markup."""
    clean = clean_text(text)
    view = readable(clean, kind)
    if not view.text.strip():
        msg = "no readable text (empty, whitespace or markup only)"
        return _err(codes.EMPTY_INPUT, key, msg, origin)
    return Ok(make_document(key, clean, kind, title or view.title, view))


def _jsonl(key: str, text: str) -> list[Result[Document, ErrInfo]]:
    out: list[Result[Document, ErrInfo]] = []
    seen: set[str] = set()
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{key}#L{n}"
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as exc:
            out.append(_err(codes.PARSE_ERROR, where, f"line {n}: not JSON ({exc})", key))
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            out.append(
                _err(codes.PARSE_ERROR, where, f'line {n}: needs an object with "text"', key)
            )
            continue
        raw_id = obj.get("id")
        ident = (
            str(raw_id)
            if isinstance(raw_id, str | int) and not isinstance(raw_id, bool)
            else f"L{n}"
        )
        doc_key = f"{key}#{ident}"
        if doc_key in seen:
            out.append(_err(codes.PARSE_ERROR, where, f"line {n}: duplicate id {ident!r}", key))
            continue
        seen.add(doc_key)
        title = obj.get("title")
        named = title if isinstance(title, str) else ""
        out.append(_one(doc_key, obj["text"], "jsonl", named, key))
    if not out:
        out.append(_err(codes.EMPTY_INPUT, key, "no JSONL records"))
    return out


def parse_text(key: str, text: str, kind: str) -> list[Result[Document, ErrInfo]]:
    """Parse the decoded text of source ``key`` as ``kind`` (md, txt, rst, html, jsonl)."""
    if kind == "jsonl":
        return _jsonl(key, text)
    if kind in ("md", "txt", "rst", "html"):
        return [_one(key, text, kind)]
    if kind in BINARY_KINDS:
        msg = f"a {kind} document is extracted from its bytes, not read as text"
        return [_err(codes.UNSUPPORTED, key, msg)]
    return [_err(codes.UNSUPPORTED, key, f"unsupported document kind {kind!r}")]


def parse_source(
    key: str, data: bytes, *, max_bytes: int, content_type: str = ""
) -> list[Result[Document, ErrInfo]]:
    """Decode and parse one source's bytes into its documents."""
    kind = kind_of(key, content_type)
    if kind is None:
        exts = " ".join(sorted(SUPPORTED_EXTENSIONS))
        return [_err(codes.UNSUPPORTED, key, f"unsupported file type; supported: {exts}")]
    decoded = decode_source(key, data, max_bytes)
    if isinstance(decoded, Err):
        return [decoded]
    return parse_text(key, decoded.value, kind)
