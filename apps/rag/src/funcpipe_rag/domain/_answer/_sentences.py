"""Sentence spans of readable text, keeping code, dotted names and abbreviations whole.

Laws, for ``spans = sentence_spans(text)``: spans are ``(start, end)`` offsets into ``text``,
in order, non-overlapping, each non-empty with no leading or trailing whitespace; every
non-whitespace character of ``text`` lies in exactly one span (nothing is lost or duplicated).
A sentence ends at ``.``, ``!`` or ``?`` (and any closing quotes or brackets) followed by
whitespace, unless the word before is a known abbreviation (``e.g.``, ``Dr.``) or an initial;
a dot inside a word (``gzip.open()``, ``3.11``, ``v1.2``) never ends one. A blank line, a list
item and a heading line always start a new sentence. Inline code (`` `...` ``) and fenced
blocks (```` ``` ````) are never cut. Pure; never raises.
"""

from __future__ import annotations

import re

ABBREVIATIONS = frozenset(
    [
        "e.g",
        "i.e",
        "etc",
        "vs",
        "cf",
        "al",
        "approx",
        "fig",
        "figs",
        "eq",
        "eqs",
        "no",
        "nos",
        "vol",
        "p",
        "pp",
        "ch",
        "sec",
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "jr",
        "sr",
        "inc",
        "ltd",
        "co",
        "corp",
        "dept",
        "est",
        "min",
        "max",
        "resp",
        "ref",
        "refs",
        "ca",
        "viz",
    ]
)
"""Words (lower case, inner dots kept, final dot dropped) whose dot never ends a sentence."""

_FENCE = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)
_BREAK = re.compile(r"\n[ \t]*\n|\n(?=[ \t]*(?:[-*+][ \t]|\d{1,3}[.)][ \t]|#{1,6}[ \t]|>))")
_END = re.compile(r"[.!?]+[\"')\]\u00bb\u201d\u2019]*(?=\s)")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")


def _fenced(text: str) -> list[tuple[int, int]]:
    """Fenced blocks, from the opening fence to the end of the closing one's line (or the
    end of the text)."""
    out: list[tuple[int, int]] = []
    fences = list(_FENCE.finditer(text))
    i = 0
    while i < len(fences):
        start = fences[i].start()
        if i + 1 < len(fences):
            close = text.find("\n", fences[i + 1].end())
            out.append((start, len(text) if close < 0 else close))
            i += 2
        else:
            out.append((start, len(text)))
            i += 1
    return out


def _protected(text: str, fenced: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Ranges never cut: the fenced blocks and inline code."""
    out = list(fenced)
    at = 0
    while (open_ := text.find("`", at)) >= 0:
        if any(a <= open_ < b for a, b in out):
            at = open_ + 1
            continue
        close = text.find("`", open_ + 1)
        line_end = text.find("\n\n", open_)
        if close < 0 or (0 <= line_end < close):
            break
        out.append((open_, close + 1))
        at = close + 1
    return sorted(out)


def _inside(pos: int, ranges: list[tuple[int, int]]) -> bool:
    return any(a <= pos < b for a, b in ranges)


def _is_abbreviation(text: str, dot: int) -> bool:
    m = _WORD_BEFORE.search(text, 0, dot)
    if m is None:
        return False
    word = m.group(1).rstrip(".").lower()
    return word in ABBREVIATIONS or (len(word) == 1 and text[m.start()].isupper())


def _cuts(text: str) -> list[int]:
    fenced = _fenced(text)
    keep = _protected(text, fenced)
    cuts = [x for a, b in fenced for x in (a, b)]
    for m in _BREAK.finditer(text):
        if not _inside(m.start(), keep):
            cuts.append(m.end())
    for m in _END.finditer(text):
        first = m.start()
        if _inside(first, keep):
            continue
        if text[first] == "." and m.group().count(".") == 1 and _is_abbreviation(text, first):
            continue
        cuts.append(m.end())
    return sorted(set(cuts))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The sentences of ``text`` as ``(start, end)`` spans (see the module's laws)."""
    spans: list[tuple[int, int]] = []
    at = 0
    for cut in [*_cuts(text), len(text)]:
        piece = text[at:cut]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece.rstrip())
        if trail > lead:
            spans.append((at + lead, at + trail))
        at = cut
    return spans


def sentences(text: str) -> list[str]:
    """The sentence texts of ``text`` (``text[a:b]`` for each span)."""
    return [text[a:b] for a, b in sentence_spans(text)]
