"""Parsing: bytes or text of one source -> documents (or one typed error per bad part).

Error codes: EMPTY_INPUT (nothing but whitespace), UNSUPPORTED (unknown extension, binary
data), DECODE_ERROR (invalid UTF-8), TOO_LARGE (over the size limit), PARSE_ERROR (a broken
JSONL line; the other lines go on). Every error's ``path[0]`` is the source key it belongs to.
"""

from __future__ import annotations

import json
import posixpath
from html.parser import HTMLParser

from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from ._clean import clean_text, squeeze_whitespace
from ._identity import doc_version, is_url
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
}
"""File extension -> document kind."""

SUPPORTED_EXTENSIONS = frozenset(KINDS)


def _err(code: str, key: str, msg: str) -> Err[ErrInfo]:
    return Err(ErrInfo(code, msg, stage="parse", path=(key,)))


def kind_of(key: str, content_type: str = "") -> str | None:
    """The document kind of a source key (by extension; URLs also by content type).

    Only a URL has a query or fragment to ignore: in a file's key, ``#`` and ``?`` are
    characters of its name (``x#y.md`` is Markdown). A file ``x.md.gz`` is read decompressed:
    its kind is that of ``x.md``.
    """
    path = key.split("?", 1)[0].split("#", 1)[0] if is_url(key) else key
    if not is_url(key) and path.lower().endswith(".gz"):
        path = path[:-3]
    ext = posixpath.splitext(path)[1].lower()
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


def make_document(source: str, text: str, kind: str, title: str = "") -> Document:
    return Document(source, text, doc_version(text), kind, title)


_SKIP = frozenset({"script", "style", "noscript", "template", "head"})
_BLOCK = frozenset(
    [
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "table",
        "section",
        "article",
        "header",
        "footer",
        "pre",
        "blockquote",
        "hr",
        "dt",
        "dd",
        "nav",
        "aside",
        "main",
        "figure",
        "figcaption",
    ]
)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIP:
            self._skip += 1
        elif tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """Visible text and title of an HTML page (stdlib parser; script and style skipped)."""
    p = _TextExtractor()
    p.feed(html)
    p.close()
    return squeeze_whitespace("".join(p.parts)), " ".join("".join(p.title).split())


def _one(key: str, text: str, kind: str, title: str = "") -> Result[Document, ErrInfo]:
    clean = clean_text(text)
    if not clean.strip():
        return _err(codes.EMPTY_INPUT, key, "no text (empty or whitespace only)")
    return Ok(make_document(key, clean, kind, title))


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
            out.append(_err(codes.PARSE_ERROR, where, f"line {n}: not JSON ({exc})"))
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            out.append(_err(codes.PARSE_ERROR, where, f'line {n}: needs an object with "text"'))
            continue
        raw_id = obj.get("id")
        ident = (
            str(raw_id)
            if isinstance(raw_id, str | int) and not isinstance(raw_id, bool)
            else f"L{n}"
        )
        doc_key = f"{key}#{ident}"
        if doc_key in seen:
            out.append(_err(codes.PARSE_ERROR, where, f"line {n}: duplicate id {ident!r}"))
            continue
        seen.add(doc_key)
        title = obj.get("title")
        out.append(_one(doc_key, obj["text"], "jsonl", title if isinstance(title, str) else ""))
    if not out:
        out.append(_err(codes.EMPTY_INPUT, key, "no JSONL records"))
    return out


def parse_text(key: str, text: str, kind: str) -> list[Result[Document, ErrInfo]]:
    """Parse the decoded text of source ``key`` as ``kind`` (md, txt, rst, html, jsonl)."""
    if kind == "jsonl":
        return _jsonl(key, text)
    if kind == "html":
        body, title = html_to_text(clean_text(text))
        return [_one(key, body, "html", title)]
    if kind in ("md", "txt", "rst"):
        return [_one(key, text, kind)]
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
