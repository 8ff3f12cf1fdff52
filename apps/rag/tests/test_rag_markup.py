"""Laws of the readable view: markup goes, content stays, offsets point into the source exactly.

Documents with markup are generated for rst, md and html (headings, paragraphs with roles,
links and emphasis, directives with options, code blocks, comments, navigation, anchors,
entities); what must vanish is marked ``ZQX`` or is a markup token.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from funcpipe.result import Ok
from funcpipe_rag.domain import (
    ChunkingConfig,
    Document,
    chunk_document,
    clean_text,
    parse_text,
    readable,
)
from funcpipe_rag.domain._chunk import sections
from hypothesis import given, settings
from hypothesis import strategies as st

word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=8)

# An inline element: (kind, words). Its content words must stay, in order.
inline = st.tuples(
    st.sampled_from(["plain", "role", "tilde", "link", "em", "strong", "code"]),
    st.lists(word, min_size=1, max_size=3),
)
paragraph = st.lists(inline, min_size=1, max_size=12)
# A block: (kind, paragraph). Directive/code/list/quote blocks carry their content words.
block = st.tuples(st.sampled_from(["para", "directive", "code", "comment", "list"]), paragraph)


@dataclass(frozen=True)
class Section:
    level: int
    name: str
    blocks: list[tuple[str, list[tuple[str, list[str]]]]]


@st.composite
def documents(draw: st.DrawFn) -> list[Section]:
    n = draw(st.integers(1, 5))
    out: list[Section] = []
    level = 0
    for i in range(n):
        level = draw(st.integers(1, min(3, level + 1)))
        name = f"Part{i} " + " ".join(draw(st.lists(word, min_size=1, max_size=3)))
        out.append(Section(level, name, draw(st.lists(block, min_size=1, max_size=4))))
    return out


def _content(p: list[tuple[str, list[str]]]) -> list[str]:
    return [w for kind, ws in p for w in (ws[-1:] if kind == "tilde" else ws)]


def expected_words(doc: list[Section]) -> list[str]:
    out: list[str] = []
    for s in doc:
        out.extend(s.name.split())
        for kind, p in s.blocks:
            if kind != "comment":
                out.extend(_content(p))
    return out


def paths(doc: list[Section]) -> list[tuple[str, ...]]:
    stack: list[str] = []
    out: list[tuple[str, ...]] = []
    for s in doc:
        del stack[s.level - 1 :]
        stack.append(s.name)
        out.append(tuple(stack))
    return out


# -- rendering --------------------------------------------------------------------------------


def rst_inline(kind: str, ws: list[str]) -> str:
    t = " ".join(ws)
    return {
        "plain": t,
        "role": f":class:`{t}`",
        "tilde": f":meth:`~{'.'.join(ws)}`",
        "link": f"`{t} <https://example.org/{ws[0]}>`_",
        "em": f"*{t}*",
        "strong": f"**{t}**",
        "code": f"``{t}``",
    }[kind]


def render_rst(doc: list[Section]) -> str:
    marks = {1: "=", 2: "-", 3: "~"}
    out = [".. _top-label:", "", ".. |sub| replace:: ZQX", ""]
    for i, s in enumerate(doc):
        bar = marks[s.level] * (len(s.name) + i % 2)
        out += [f".. _sec-{i}:", "", *([bar] if s.level == 1 else []), s.name, bar, ""]
        for kind, p in s.blocks:
            items = [rst_inline(k, ws) for k, ws in p]
            lines = [" ".join(items[j : j + 4]) for j in range(0, len(items), 4)]
            if kind == "para":
                out += [*lines, ""]
            elif kind == "directive":
                rest = [" ".join(items[j : j + 4]) for j in range(1, len(items), 4)]
                out += [f".. function:: {items[0]}", "   :noindex:", "   :module: ZQX", ""]
                out += [f"   {line}" for line in rest or ["body"]] + [""]
            elif kind == "code":
                out += ["Example::", "", *(f"    {w} = {w}" for w in _content(p)), ""]
            elif kind == "comment":
                out += [".. ZQX comment", "   ZQX " + " ".join(_content(p)), ""]
            else:
                out += [f"* {line}" for line in lines] + [""]
    return "\n".join(out)


def rst_words(doc: list[Section]) -> list[str]:
    """Expected words of the rst rendering (the directive's empty body says "body"; code
    lines say each word twice; the Example:: marker keeps "Example:")."""
    out: list[str] = []
    for s in doc:
        out.extend(s.name.split())
        for kind, p in s.blocks:
            if kind == "comment":
                continue
            if kind == "code":
                out.append("Example")
                out.extend(w for x in _content(p) for w in (x, x))
                continue
            out.extend(_content(p))
            if kind == "directive" and len(p) == 1:
                out.append("body")
    return out


def md_inline(kind: str, ws: list[str]) -> str:
    t = " ".join(ws)
    return {
        "plain": t,
        "role": f"[{t}][ref]",
        "tilde": f"![{ws[-1]}](img/{ws[0]}.png)",
        "link": f"[{t}](https://example.org/{ws[0]})",
        "em": f"*{t}*",
        "strong": f"**{t}**",
        "code": f"`{t}`",
    }[kind]


def render_md(doc: list[Section]) -> str:
    out: list[str] = []
    for s in doc:
        out += ["#" * s.level + " " + s.name, ""]
        for kind, p in s.blocks:
            items = [md_inline(k, ws) for k, ws in p]
            lines = [" ".join(items[j : j + 4]) for j in range(0, len(items), 4)]
            if kind in ("para", "directive"):
                out += [*lines, ""]
            elif kind == "code":
                out += ["```python", *(f"{w} = {w}" for w in _content(p)), "```", ""]
            elif kind == "comment":
                out += ["<!-- ZQX comment", "ZQX " + " ".join(_content(p)) + " -->", ""]
            else:
                out += [f"- {line}" for line in lines] + [""]
    out += ["[ref]: https://example.org/ZQX", ""]
    return "\n".join(out)


def md_words(doc: list[Section]) -> list[str]:
    out: list[str] = []
    for s in doc:
        out.extend(s.name.split())
        for kind, p in s.blocks:
            if kind == "code":
                out.extend(w for x in _content(p) for w in (x, x))
            elif kind != "comment":
                out.extend(_content(p))
    return out


def html_inline(kind: str, ws: list[str]) -> str:
    t = " ".join(ws)
    return {
        "plain": t,
        "role": f'<code class="xref py">{t}</code>',
        "tilde": f"{ws[-1]}&amp;{ws[-1]}",
        "link": f'<a href="https://example.org/{ws[0]}">{t}</a>',
        "em": f"<em>{t}</em>",
        "strong": f"<strong>{t}&nbsp;</strong>",
        "code": f"<code>{t}</code>",
    }[kind]


NAV = (
    '<div class="related" role="navigation"><h3>Navigation</h3><ul><li>'
    '<a href="x.html">Previous topic</a> ZQX</li></ul></div>\n'
)
SIDEBAR = (
    '<div class="sphinxsidebar" role="navigation"><div class="sphinxsidebarwrapper">'
    "<h3>Table of Contents</h3><div><h4>Previous topic</h4><p>ZQX</p></div></div></div>\n"
)


def render_html(doc: list[Section], titled: bool) -> str:
    head = "<title>The Doc &mdash; title</title>" if titled else ""
    out = [
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'>{head}",
        "<style>p { color: red } /* ZQX */</style><script>var x = 'ZQX';</script></head><body>",
        NAV,
        "<nav class='menu'>ZQX <a href='/'>Home</a></nav>",
        '<div class="body" role="main">',
    ]
    for i, s in enumerate(doc):
        h = f"h{s.level}"
        out.append(
            f'<section id="s{i}"><{h}>{s.name}<a class="headerlink" href="#s{i}">¶</a></{h}>'
        )
        for kind, p in s.blocks:
            items = [html_inline(k, ws) for k, ws in p]
            if kind in ("para", "directive"):
                out.append("<p>" + "\n  ".join(items) + "</p>")
            elif kind == "code":
                code = "\n".join(f'<span class="n">{w}</span> = {w}' for w in _content(p))
                out.append(f'<div class="highlight"><pre>{code}\n</pre></div>')
            elif kind == "comment":
                out.append("<!-- ZQX " + " ".join(_content(p)) + " -->")
            else:
                out.append("<ul>" + "".join(f"<li>{x}</li>" for x in items) + "</ul>")
        out.append("</section>")
    out += ["</div>", SIDEBAR, NAV]
    out.append('<footer>ZQX &copy; <a href="/d">Please donate.</a></footer></body></html>')
    return "\n".join(out)


def html_code_words(doc: list[Section]) -> list[str]:
    """The code rendering says each word twice; inline kinds do not apply there."""
    out: list[str] = []
    for s in doc:
        out.extend(s.name.split())
        for kind, p in s.blocks:
            if kind == "code":
                out.extend(w for x in _content(p) for w in (x, x))
            elif kind != "comment":
                for k, ws in p:
                    out.extend([f"{ws[-1]}&{ws[-1]}"] if k == "tilde" else ws)
    return out


def rendered(doc: list[Section], kind: str, titled: bool = True) -> tuple[str, list[str]]:
    if kind == "rst":
        return render_rst(doc), rst_words(doc)
    if kind == "md":
        return render_md(doc), md_words(doc)
    return render_html(doc, titled), html_code_words(doc)


# -- checks -----------------------------------------------------------------------------------

TOKENS = [
    r"(?m)^[ \t]*\.\. ",
    r":class:",
    r":meth:",
    r":noindex:",
    r"(?m)^([=^~-])\1+$",
    r"`",
    r"¶",
    r"Previous topic",
    r"Table of Contents",
    r"Please donate",
    r"\]\(",
    r"\]\[",
    r"<p>",
    r"<",
    r"\*",
    r"&amp;",
    r"#",
    r"ZQX",
]


def in_order(needles: list[str], hay: str) -> bool:
    at = 0
    for w in needles:
        at = hay.find(w, at)
        if at < 0:
            return False
        at += len(w)
    return True


def source_of(kind: str, span: str) -> str:
    return html.unescape(span) if kind == "html" else span


kinds = st.sampled_from(["rst", "md", "html"])


@settings(max_examples=60, deadline=None)
@given(documents(), kinds, st.booleans())
def test_content_stays_and_markup_goes(doc: list[Section], kind: str, titled: bool) -> None:
    src, words = rendered(doc, kind, titled)
    view = readable(clean_text(src), kind)
    assert in_order(words, view.text), (words, view.text)
    found = [t for t in TOKENS if re.search(t, view.text)]
    assert not found, (found, view.text)


@settings(max_examples=60, deadline=None)
@given(documents(), kinds, st.booleans())
def test_each_readable_char_maps_to_its_source(doc: list[Section], kind: str, t: bool) -> None:
    """A non-space readable char's one-char span is its source (html: an entity decoding to
    it); spans are monotone."""
    src = clean_text(rendered(doc, kind, t)[0])
    view = readable(src, kind)
    last = (0, 0)
    for i, ch in enumerate(view.text):
        s, e = view.span(i, i + 1)
        assert 0 <= s < e <= len(src)
        assert s >= last[0]
        assert e >= last[1]
        last = (s, e)
        if not ch.isspace():
            assert source_of(kind, src[s:e]) == ch, (i, ch, src[s:e])


@settings(max_examples=60, deadline=None)
@given(documents(), kinds, st.booleans())
def test_titles_and_heading_paths_are_the_generated_ones(
    doc: list[Section], kind: str, titled: bool
) -> None:
    src = clean_text(rendered(doc, kind, titled)[0])
    view = readable(src, kind)
    title = "The Doc — title" if kind == "html" and titled else doc[0].name
    assert view.title == title
    at = 0
    for s, path in zip(doc, paths(doc), strict=True):
        at = view.text.find(s.name, at)
        assert at >= 0
        assert view.headings_at(at) == path
        assert view.headings_at(at + len(s.name)) == path
    assert view.headings_at(0) in ((), paths(doc)[0])


@settings(max_examples=60, deadline=None)
@given(documents(), kinds, st.booleans(), st.integers(16, 200), st.integers(0, 15))
def test_offsets_are_exact_for_every_chunk(
    doc: list[Section], kind: str, titled: bool, size: int, overlap: int
) -> None:
    [r] = parse_text(f"doc.{kind}", rendered(doc, kind, titled)[0], kind)
    assert isinstance(r, Ok)
    d = r.value
    chunks = chunk_document(d, ChunkingConfig(size, overlap))
    assert chunks
    view = readable(d.text, kind)
    assert d.title == view.title
    for c in chunks:
        assert len(c.text) <= size
        span = source_of(kind, d.text[c.start : c.end])
        assert span.startswith(c.text[0])
        assert span.endswith(c.text[-1])
        assert in_order(c.text.split(), span), (c.text, span)
        assert c.title == view.title
        assert c.headings in [(), *paths(doc)]
    assert chunks[0].headings in [(), paths(doc)[0]]
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    assert [c.end for c in chunks] == sorted(c.end for c in chunks)


@settings(max_examples=60, deadline=None)
@given(documents(), kinds)
def test_sections_cut_at_headings_and_cover_the_text(doc: list[Section], kind: str) -> None:
    view = readable(clean_text(rendered(doc, kind)[0]), kind)
    parts = sections(view)
    assert [a for a, _ in parts[1:]] == [z for _, z in parts[:-1]]
    assert (parts[0][0], parts[-1][1]) == (0, len(view.text))
    assert all(a in view.heading_pos for a, _ in parts[1:])
    assert all("\n\n" in view.text[a:z].strip() for a, z in parts[:-1])
    # a section of content starts a cut; headings follow one another only when one is empty
    assert len(parts) >= sum(1 for s in doc if any(k != "comment" for k, _ in s.blocks)) - 1


ODD_PIECES = [
    *"ab :`*_#=-~^.<>/![]()|&;\n\t",
    *("\n\n", "\n   ", "&amp;", "&#x41;", "&#65", "&nbsp;", "<p>", "</p>", "<h1>", "</h1>"),
    *("<pre>", "</pre>", "<script>", "</script>", "<!--", "-->", '<div class="footer">'),
    *("</div>", ".. ", "::", "``", "**", "```", ":class:", "[x]: u", "# ", "===="),
]
odd = st.lists(st.sampled_from(ODD_PIECES), max_size=60).map("".join)


@settings(max_examples=300, deadline=None)
@given(odd, st.sampled_from(["rst", "md", "html", "txt"]))
def test_odd_markup_never_breaks_the_map(src: str, kind: str) -> None:
    """Broken or nonsensical markup: no error, and every char still maps to its source."""
    src = clean_text(src)
    view = readable(src, kind)
    last = (0, 0)
    for i, ch in enumerate(view.text):
        s, e = view.span(i, i + 1)
        assert 0 <= s < e <= len(src)
        assert s >= last[0]
        assert e >= last[1]
        last = (s, e)
        if not ch.isspace():
            assert source_of(kind, src[s:e]) == ch
    if view.text:
        s, e = view.span(0, len(view.text))
        assert (s, e) == (view.span(0, 1)[0], view.span(len(view.text) - 1, len(view.text))[1])


@given(st.text(max_size=300), st.sampled_from(["txt", "jsonl"]))
def test_plain_kinds_are_the_identity_view(text: str, kind: str) -> None:
    view = readable(text, kind)
    assert (view.text, view.title) == (text, "")
    if text:
        assert view.span(0, len(text)) == (0, len(text))


def test_a_document_of_markup_only_is_empty_input() -> None:
    for key, text in [
        ("a.rst", ".. _label:\n\n.. comment\n   more\n"),
        ("a.md", "<!-- nothing -->\n\n---\n"),
        ("a.html", "<html><head><title>T</title></head><body><nav>x</nav></body></html>"),
    ]:
        [r] = parse_text(key, text, key.rsplit(".", 1)[1])
        assert not isinstance(r, Ok), key


def test_a_chunk_of_html_is_readable_and_its_span_is_the_source() -> None:
    src = '<h1>Title<a class="headerlink">¶</a></h1><p>Fish &amp; chips</p>'
    [c] = chunk_document(Document("p.html", src, "v", "html"), ChunkingConfig(100, 0))
    assert c.text == "Title\n\nFish & chips"
    assert src[c.start : c.end] == 'Title<a class="headerlink">¶</a></h1><p>Fish &amp; chips'
    assert (c.title, c.headings) == ("Title", ("Title",))


def test_rst_roles_targets_and_literals() -> None:
    src = (
        "Intro\n=====\n\nSee :meth:`~pkg.mod.run`, :func:`!plain`, :ref:`the guide <guide>`"
        " and ``x + 1``::\n\n    code  stays\n\nAfter.\n"
    )
    view = readable(src, "rst")
    assert view.text == "Intro\n\nSee run, plain, the guide and x + 1:\n\ncode  stays\n\nAfter."
    s, e = view.span(view.text.index("run"), view.text.index("run") + 3)
    assert src[s:e] == "run"


# -- the real corpus: the Python docs ---------------------------------------------------------

DOCS = Path("/usr/share/doc/python3.11/html")
REAL_TOKENS = [
    r"(?m)^[ \t]*\.\. [\w:-]+::",
    r"(?m)^[ \t]*\.\. _[\w -]*:",
    r":(class|func|meth|mod|ref|attr|data|const|exc|term|pep|envvar):`",
    r"(?m)^[ \t]*:noindex:",
    r"¶",
    r"Previous topic",
    r"Please donate",
]


def _pages(folder: Path, pattern: str) -> list[Path]:
    pages = sorted(folder.glob(pattern))
    if not pages:
        pytest.skip(f"no Python docs under {folder}")
    return pages[:: max(1, len(pages) // 20)][:20]


@pytest.mark.parametrize(
    ("folder", "pattern", "kind"),
    [
        ("_sources/library", "*.rst.txt", "rst"),
        ("library", "*.html", "html"),
    ],
)
def test_real_python_docs_lose_their_markup(folder: str, pattern: str, kind: str) -> None:
    for page in _pages(DOCS / folder, pattern):
        src = clean_text(page.read_text(encoding="utf-8"))
        view = readable(src, kind)
        assert view.title, page.name
        found = [t for t in REAL_TOKENS if re.search(t, view.text)]
        assert not found, (page.name, found)
        for i in range(0, len(view.text), 997):
            s, e = view.span(i, i + 1)
            if not view.text[i].isspace():
                assert source_of(kind, src[s:e]) == view.text[i], (page.name, i)
