"""Readable text of a document (markup removed) with a map back to exact source offsets.

Laws, for ``v = readable(text, kind)`` and any ``0 <= a < b <= len(v.text)``:
``s, e = v.span(a, b)`` has ``0 <= s < e <= len(text)``; when ``v.text[a]`` was copied from the
source, ``text[s] == v.text[a]`` (likewise ``text[e - 1] == v.text[b - 1]``); spans are monotone
in ``a`` and ``b``. Readable text is a sequence of source substrings (html: and decoded
entities) joined by single spaces, newlines and blank lines, so paragraphs stay cuttable.
``txt`` and ``jsonl`` are the identity view. Nothing here raises on odd input.
"""

from __future__ import annotations

import html
import re
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from html.parser import HTMLParser

_SEP_RANK = {"": 0, " ": 1, "\n": 2, "\n\n": 3}


@dataclass(frozen=True, slots=True)
class Readable:
    """Readable ``text`` and ``title`` of a document, its source map and heading positions.

    Segment ``i`` covers readable ``[r[i], r[i+1])`` and came from source ``[s[i], e[i])``:
    char by char when both have one length, else as a whole (a decoded entity, a separator).
    """

    text: str
    title: str
    r: array[int]
    s: array[int]
    e: array[int]
    heading_pos: tuple[int, ...] = ()
    heading_paths: tuple[tuple[str, ...], ...] = ()

    def _seg(self, pos: int) -> tuple[int, bool]:
        i = max(0, bisect_right(self.r, pos) - 1)
        end = self.r[i + 1] if i + 1 < len(self.r) else len(self.text)
        return i, self.e[i] - self.s[i] == end - self.r[i]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Source span of readable ``text[start:end]`` (``start < end``)."""
        if not self.r:
            return 0, 0
        i, copy = self._seg(start)
        first = self.s[i] + (start - self.r[i]) if copy else self.s[i]
        j, copy = self._seg(end - 1)
        last = self.s[j] + (end - 1 - self.r[j]) + 1 if copy else self.e[j]
        return first, max(last, first)

    def headings_at(self, pos: int) -> tuple[str, ...]:
        """Heading path (outermost first) in force at readable position ``pos``."""
        k = bisect_right(self.heading_pos, pos) - 1
        return self.heading_paths[k] if k >= 0 else ()


class _Builder:
    """Accumulates readable pieces; separators are pending until the next piece."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.n = 0
        self.r: array[int] = array("q")
        self.s: array[int] = array("q")
        self.e: array[int] = array("q")
        self.sep = ""
        self.last_src = 0
        self.hpos: list[int] = []
        self.hpaths: list[tuple[str, ...]] = []

    def gap(self, sep: str) -> None:
        if _SEP_RANK[sep] > _SEP_RANK[self.sep]:
            self.sep = sep

    def _seg(self, piece: str, s: int, e: int) -> None:
        r = self.r
        if r and self.e[-1] == s and e - s == len(piece):
            prev_len = self.n - r[-1]
            if self.e[-1] - self.s[-1] == prev_len:  # both copies and contiguous: extend
                self.e[-1] = e
                self.parts.append(piece)
                self.n += len(piece)
                return
        r.append(self.n)
        self.s.append(s)
        self.e.append(e)
        self.parts.append(piece)
        self.n += len(piece)

    def flush(self, src: int) -> None:
        """Emit the pending separator, mapped to the source between the pieces it joins."""
        if self.sep and self.n:
            self._seg(self.sep, min(self.last_src, src), max(self.last_src, src))
        self.sep = ""

    def put(self, s: int, piece: str, e: int | None = None) -> None:
        """Emit ``piece`` from source ``[s, e)`` (default: copied, ``e = s + len(piece)``)."""
        if not piece:
            return
        end = s + len(piece) if e is None else e
        self.flush(s)
        self._seg(piece, s, end)
        self.last_src = end

    def heading(self, path: tuple[str, ...], pos: int) -> None:
        self.hpos.append(pos)
        self.hpaths.append(path)

    def since(self, k: int) -> str:
        return "".join(self.parts[k:])

    def build(self, title: str) -> Readable:
        return Readable(
            "".join(self.parts),
            title,
            self.r,
            self.s,
            self.e,
            tuple(self.hpos),
            tuple(self.hpaths),
        )


_WS_BREAK = re.compile(r"(?=[ \t\n])(?:[ \t]*\n[ \t\n]*|[ \t]{2,})")  # the lookahead: speed


def _plain(b: _Builder, text: str, a: int, z: int) -> None:
    """Emit ``text[a:z]`` with line breaks (and their indentation) as separators."""
    at = a
    for m in _WS_BREAK.finditer(text, a, z):
        b.put(at, text[at : m.start()])
        b.gap("\n\n" if m.group().count("\n") > 1 else ("\n" if "\n" in m.group() else " "))
        at = m.end()
    b.put(at, text[at:z])


class _Headings:
    """Heading path by level (1-based)."""

    def __init__(self) -> None:
        self.path: list[str] = []
        self.title = ""

    def enter(self, b: _Builder, level: int, k: int) -> None:
        """The text emitted since part ``k`` is a heading of ``level``; it starts a section."""
        since = b.since(k)
        name = " ".join(since.split())
        if not name:
            return
        self.title = self.title or name
        del self.path[level - 1 :]
        self.path.extend([""] * (level - 1 - len(self.path)))
        self.path.append(name)
        b.heading(tuple(p for p in self.path if p), b.n - len(since.lstrip()))


# -- reStructuredText ------------------------------------------------------------------------

_RST_INLINE = re.compile(
    r"(?=[`*:])(?:``(?P<lit>.{1,2000}?)``"
    r"|(?P<role>:(?:[\w.+-]{1,40}:){1,4})?`(?P<body>[^`]+)`(?:__?|:(?:[\w.+-]{1,40}:){1,4})?"
    r"|(?<![\w*])\*\*(?=\S)(?P<strong>[^*]+?)(?<=\S)\*\*(?![\w*])"
    r"|(?<![\w*])\*(?=[^\s*])(?P<em>[^*]+?)(?<=\S)\*(?![\w*]))",
    re.S,
)
_TARGET = re.compile(r"(.*?)\s*<([^<>]*)>\s*$", re.S)
_ADORN = re.compile(r"([!-/:-@\[-`{-~])\1+[ \t]*$")


def _is_rule(line: str) -> bool:
    """A table border or separator row (``+---+``, ``=== ===``, ``|---|:--:|``)."""
    return not line.strip(" \t-=+|:") and ("---" in line or "===" in line)


_EXPLICIT = re.compile(r"([ \t]*)\.\.(?:[ \t]+|$)")
_DIRECTIVE = re.compile(r"([\w:.+-]+)::(?:[ \t]+|$)")
_OPTION = re.compile(r"[ \t]+:[\w-]+:(?:[ \t]|$)")
_BULLET = re.compile(r"[ \t]*(?:[-*+•]|#\.|\d+\.|\(?\d+\)|[a-zA-Z]\.)[ \t]+(?=\S)")
_RST_DROP = frozenset(
    [
        "index",
        "toctree",
        "highlight",
        "sectionauthor",
        "moduleauthor",
        "codeauthor",
        "include",
        "image",
        "raw",
        "contents",
        "tabularcolumns",
        "testsetup",
        "testcleanup",
        "currentmodule",
        "literalinclude",
        "figure",
        "only",
        "default-role",
        "role",
    ]
)
_RST_LITERAL = frozenset(
    [
        "code",
        "code-block",
        "sourcecode",
        "testcode",
        "doctest",
        "testoutput",
        "productionlist",
        "parsed-literal",
    ]
)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _rst_inline(b: _Builder, text: str, a: int, z: int) -> None:
    at = a
    for m in _RST_INLINE.finditer(text, a, z):
        _plain(b, text, at, m.start())
        at = m.end()
        name = next(g for g in ("lit", "body", "strong", "em") if m.group(g) is not None)
        s, e = m.span(name)
        if name == "body":
            t = _TARGET.match(text, s, e)
            if t:
                s, e = (t.start(1), t.end(1)) if t.group(1) else t.span(2)
            if m.group("role") and text.startswith(("~", "!"), s):
                if text[s] == "~":
                    s = max(s + 1, text.rfind(".", s, e) + 1)
                else:
                    s += 1
        _plain(b, text, s, e)
    _plain(b, text, at, z)


def _rst(text: str) -> Readable:
    b, hs = _Builder(), _Headings()
    lines = text.split("\n")
    starts = [0] * len(lines)
    for i in range(1, len(lines)):
        starts[i] = starts[i - 1] + len(lines[i - 1]) + 1
    styles: list[tuple[str, bool]] = []
    para: list[int] = []  # line numbers of the open paragraph
    para_at = 0  # where its text starts (after indentation or a list marker)
    item = -1  # the open paragraph is a list item with its marker at this indentation
    overline = False
    literal = -1  # indentation a literal block must exceed (-1: none pending)

    def flush_para() -> None:
        nonlocal literal
        if not para:
            return
        last = para[-1]
        a, z = para_at, starts[last] + len(lines[last].rstrip())
        if text.endswith("::", a, z):
            literal = para_at - starts[last] if len(para) == 1 else _indent(lines[last])
            z -= 2 if z - a == 2 or text[z - 3] in " \t\n" else 1
            z = a + len(text[a:z].rstrip())
        b.gap("\n\n")
        _rst_inline(b, text, a, z)
        b.gap("\n\n")
        para.clear()

    def skip_block(i: int, k: int) -> int:
        j = i + 1
        while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > k):
            j += 1
        return j

    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            flush_para()
            b.gap("\n\n")
            i += 1
            continue
        ind = _indent(line)
        if literal >= 0:
            if ind > literal:
                j, base = i, ind
                while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > literal):
                    if lines[j].strip():
                        cut = min(base, _indent(lines[j]))
                        b.gap("\n")
                        b.put(starts[j] + cut, lines[j][cut:].rstrip())
                    else:
                        b.gap("\n\n")
                    j += 1
                b.gap("\n\n")
                literal, i = -1, j
                continue
            literal = -1
        if para and line.rstrip() == "::":  # the expanded literal marker ends its paragraph
            para.append(i)
            i += 1
            continue
        if ind == 0 and _ADORN.match(line) and len(line.rstrip()) >= 2:
            title = lines[para[0]].strip() if len(para) == 1 else ""
            long_enough = len(line.rstrip()) >= min(4, len(title))
            if title and long_enough and (overline or _indent(lines[para[0]]) == 0):
                style = (line[0], overline)
                if style not in styles:
                    styles.append(style)
                b.gap("\n\n")
                mark = len(b.parts)
                _rst_inline(b, text, para_at, starts[para[0]] + len(lines[para[0]].rstrip()))
                hs.enter(b, styles.index(style) + 1, mark)
                b.gap("\n\n")
                para.clear()
                overline = False
            else:
                flush_para()
                nxt = lines[i + 2] if i + 2 < len(lines) else ""
                overline = nxt.rstrip() == line.rstrip()
            i += 1
            continue
        if _is_rule(line):
            flush_para()
            i += 1
            continue
        m = _EXPLICIT.match(line)
        if m:
            flush_para()
            rest = m.end()
            d = _DIRECTIVE.match(line, rest)
            if line.startswith("[", rest) and "]" in line[rest:]:  # footnote: its text stays
                para_at, item = starts[i] + line.index("]", rest) + 1, -1
                para.append(i)
                i += 1
            elif d and not line.startswith("|", rest) and not line.startswith("_", rest):
                name = d.group(1).split(":")[-1]
                if name in _RST_DROP:
                    i = skip_block(i, ind)
                    continue
                b.gap("\n\n")
                if name not in _RST_LITERAL:
                    _rst_inline(b, text, starts[i] + d.end(), starts[i] + len(line.rstrip()))
                b.gap("\n\n")
                i += 1
                opt = -1  # indentation of the last option line
                while i < len(lines) and lines[i].strip() and _indent(lines[i]) > ind:
                    if _OPTION.match(lines[i]):
                        flush_para()
                        opt = _indent(lines[i])
                    elif opt >= 0 and _indent(lines[i]) > opt:
                        pass  # an option's value continued
                    elif opt >= 0 or name in _RST_LITERAL or _EXPLICIT.match(lines[i]):
                        break
                    else:  # the argument continued (a signature per line) or the body
                        if not para:
                            para_at, item = starts[i] + _indent(lines[i]), -1
                        para.append(i)
                    i += 1
                if name in _RST_LITERAL:
                    literal = ind
            else:
                i = skip_block(i, ind)
            continue
        bullet = _BULLET.match(line)
        if bullet and (not para or item == ind):
            flush_para()
            b.gap("\n")
        if not para:
            item = ind if bullet else -1
            para_at = starts[i] + (bullet.end() if bullet else ind)
        para.append(i)
        i += 1
    flush_para()
    return b.build(hs.title)


# -- Markdown --------------------------------------------------------------------------------

_MD_INLINE = re.compile(
    r"(?=[`<!\[*_~])(?:(?P<tick>`+)(?P<code>.{1,2000}?)(?P=tick)"
    r"|!?\[(?P<ltext>[^\]]{0,1000})\]\([^)]{0,2000}\)"
    r"|!?\[(?P<rtext>[^\]]{1,1000})\]\[[^\]]{0,1000}\]"
    r"|<(?P<auto>(?:https?|mailto):[^>\s]{1,2000})>"
    r"|</?[A-Za-z][\w-]*(?:\s[^<>]*)?/?>"
    r"|(?<![\w*])\*\*(?=\S)(?P<b1>.{1,2000}?)(?<=\S)\*\*(?![\w*])"
    r"|(?<![\w_])__(?=\S)(?P<b2>.{1,2000}?)(?<=\S)__(?![\w_])"
    r"|(?<![\w*])\*(?=[^\s*])(?P<i1>[^*]+?)(?<=\S)\*(?![\w*])"
    r"|(?<![\w_])_(?=[^\s_])(?P<i2>[^_]+?)(?<=\S)_(?![\w_])"
    r"|~~(?P<s>.{1,2000}?)~~)",
    re.S,
)
_MD_NEST = ("ltext", "rtext", "b1", "b2", "i1", "i2", "s")
_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+|$)")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*$")
_HR = re.compile(r" {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_REFDEF = re.compile(r" {0,3}\[[^\]]+\]:[ \t]*\S")
_MD_MARK = re.compile(r"[ \t]*(?:>[ \t]?)*(?:(?:[-*+]|\d+[.)])[ \t]+(?:\[[ xX]\][ \t]+)?)?")


def _md_inline(b: _Builder, text: str, a: int, z: int) -> None:
    """Emit ``text[a:z]`` without its HTML comments (found by ``find``: linear time)."""
    at = a
    while (c := text.find("<!--", at, z)) >= 0 and (e := text.find("-->", c + 4, z)) >= 0:
        _md_spans(b, text, at, c)
        at = e + 3
    _md_spans(b, text, at, z)


def _md_spans(b: _Builder, text: str, a: int, z: int) -> None:
    at = a
    for m in _MD_INLINE.finditer(text, a, z):
        _plain(b, text, at, m.start())
        at = m.end()
        if m.group("code") is not None:
            b.put(m.start("code"), m.group("code"))
        elif m.group("auto") is not None:
            b.put(m.start("auto"), m.group("auto"))
        else:
            g = next((g for g in _MD_NEST if m.group(g) is not None), None)
            if g is not None:
                _md_inline(b, text, m.start(g), m.end(g))
    _plain(b, text, at, z)


def _md(text: str) -> Readable:
    b, hs = _Builder(), _Headings()
    pos = 0
    para: list[tuple[int, int]] = []  # (start, end) source ranges of the open paragraph's lines
    fence = ""

    def flush_para() -> None:
        if para:
            b.gap("\n\n")
            _md_inline(b, text, para[0][0], para[-1][1])
            b.gap("\n\n")
            para.clear()

    for line in text.split("\n"):
        at, pos = pos, pos + len(line) + 1
        if fence:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = ""
                b.gap("\n\n")
            elif line.strip():
                b.gap("\n")
                b.put(at, line.rstrip())
            else:
                b.gap("\n\n")
            continue
        if not line.strip():
            flush_para()
            continue
        f = _FENCE.match(line)
        if f and not (f.group(1)[0] == "`" and "`" in line[f.end() :]):
            flush_para()
            fence = f.group(1)
            b.gap("\n\n")
            continue
        h = _ATX.match(line)
        if h:
            flush_para()
            body = line.rstrip()
            body = re.sub(r"[ \t]+#+$", "", body) if body.rstrip("#") else ""
            b.gap("\n\n")
            mark = len(b.parts)
            if len(body) > h.end():
                _md_inline(b, text, at + h.end(), at + len(body))
            hs.enter(b, len(h.group(1)), mark)
            b.gap("\n\n")
            continue
        if _SETEXT.match(line) and len(para) == 1:
            b.gap("\n\n")
            mark = len(b.parts)
            _md_inline(b, text, para[0][0], para[0][1])
            hs.enter(b, 1 if line.strip()[0] == "=" else 2, mark)
            b.gap("\n\n")
            para.clear()
            continue
        if _HR.match(line) or _REFDEF.match(line) or _is_rule(line):
            flush_para()
            continue
        mk = _MD_MARK.match(line)
        cut = mk.end() if mk else 0
        if line[:cut].strip():  # a quote or list marker starts a new line of its own
            if para:
                _md_inline(b, text, para[0][0], para[-1][1])
                para.clear()
            b.gap("\n")
        para.append((at + cut, at + len(line.rstrip())))
    flush_para()
    return b.build(hs.title)


# -- HTML ------------------------------------------------------------------------------------

_SKIP_TAGS = frozenset(
    [
        "script",
        "style",
        "noscript",
        "template",
        "head",
        "nav",
        "footer",
        "aside",
        "form",
        "svg",
        "button",
        "select",
    ]
)
_SKIP_CLASSES = frozenset(
    [
        "sphinxsidebar",
        "sphinxsidebarwrapper",
        "related",
        "footer",
        "headerlink",
        "mobile-nav",
        "menu-wrapper",
        "inline-search",
        "navigation",
        "nav",
        "navbar",
        "sidebar",
        "breadcrumb",
        "breadcrumbs",
        "skip-link",
        "toc",
    ]
)
_SKIP_ROLES = frozenset(["navigation", "search", "contentinfo", "complementary", "banner"])
_BLOCK = frozenset(
    [
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
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
        "pre",
        "blockquote",
        "hr",
        "main",
        "figure",
        "figcaption",
        "title",
        "caption",
    ]
)
_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    ]
)
_WS = re.compile(r"\s+")


class _HtmlReader(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=False)
        self.src = text
        self.lines = [0]
        self.lines.extend(m.end() for m in re.finditer("\n", text))
        self.b, self.hs = _Builder(), _Headings()
        self.skip: list[str] = []  # the tag that opened the skipped element, per nesting level
        self.pre = 0
        self.title: list[str] = []
        self.in_title = False
        self.h: tuple[int, int] | None = None  # (level, mark) of the open heading

    def _at(self) -> int:
        line, col = self.getpos()
        return self.lines[line - 1] + col

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        if self.skip:
            if tag == self.skip[0] and tag not in _VOID:
                self.skip.append(tag)
            return
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        if tag in _SKIP_TAGS or classes & _SKIP_CLASSES or a.get("role") in _SKIP_ROLES:
            if tag not in _VOID:
                self.skip.append(tag)
            return
        if tag in _BLOCK:
            self.b.gap("\n\n")
        if tag == "pre":
            self.pre += 1
        if len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
            self.b.gap("\n\n")
            self.h = (int(tag[1]), len(self.b.parts))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.skip and tag in _BLOCK:
            self.b.gap("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if self.skip:
            if tag == self.skip[0]:
                self.skip.pop()
            return
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        if self.h and tag == f"h{self.h[0]}":
            self.hs.enter(self.b, *self.h)
            self.h = None
        if tag in _BLOCK:
            self.b.gap("\n\n")

    def _text(self, at: int, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        if self.skip or self.in_title:
            return
        if self.pre:  # code keeps its spacing; a last newline is a line break
            body = data.rstrip("\n")
            self.b.put(at, body)
            if len(body) < len(data):
                self.b.gap("\n")
            return
        i = 0
        for m in _WS.finditer(data):
            self.b.put(at + i, data[i : m.start()])
            self.b.gap(" ")
            i = m.end()
        self.b.put(at + i, data[i:])

    def handle_data(self, data: str) -> None:
        self._text(self._at(), data)

    def _ref(self, raw: str) -> None:
        at = self._at()
        end = at + len(raw) + (1 if self.src.startswith(";", at + len(raw)) else 0)
        decoded = html.unescape(self.src[at:end])
        if self.in_title:
            self.title.append(decoded)
        if self.skip or self.in_title:
            return
        if decoded.isspace() and not self.pre:
            self.b.gap(" ")
        else:
            self.b.put(at, decoded, end)

    def handle_entityref(self, name: str) -> None:
        self._ref("&" + name)

    def handle_charref(self, name: str) -> None:
        self._ref("&#" + name)


def _html(text: str) -> Readable:
    p = _HtmlReader(text)
    p.feed(text)
    p.close()
    title = " ".join("".join(p.title).split()) or p.hs.title
    return p.b.build(title)


def _identity(text: str) -> Readable:
    b = _Builder()
    b.put(0, text)
    return b.build("")


@lru_cache(maxsize=4)
def readable(text: str, kind: str) -> Readable:
    """The readable view of clean source ``text`` of ``kind`` (md, rst, html, txt, jsonl; the
    extracted text of docx as md, of pdf as txt).

    Cached (a few entries): parsing and chunking of one document share one view.
    """
    if kind == "rst":
        return _rst(text)
    if kind in ("md", "docx"):  # a DOCX is extracted as Markdown (headings from its styles)
        return _md(text)
    if kind == "html":
        return _html(text)
    return _identity(text)
