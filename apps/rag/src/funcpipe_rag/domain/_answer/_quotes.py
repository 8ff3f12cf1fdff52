"""``--verify quotes``: keep only the claims whose quote appears verbatim in the cited chunk.

The model writes one claim per line, each citation followed by the exact words of the source
that support it: ``claim [c1a2b3c] "quoted words"``. Laws, for ``kept, removed =
verify_quotes(raw, texts)``: every line of ``kept`` is a line of ``raw`` with its quotes taken
out, whose every citation carries a quote found in ``texts[id]`` (whitespace runs made one
space, case ignored); ``removed`` counts the other non-blank lines; a line without a citation
is removed. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

QUOTE_INSTRUCTION = (
    " Write one claim per line. After each citation, quote in double quotes the exact words of "
    'that source that support the claim, for example: claim [c1a2b3c] "exact words".'
)
_CITED = re.compile(r"\[([A-Za-z0-9]{1,16})\]\s*(?:\"([^\"\n]+)\"|\u201c([^\u201d\n]+)\u201d)?")


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def _check(line: str, texts: Mapping[str, str]) -> str | None:
    """The line without its quotes when every citation's quote is in its chunk, else None."""
    found = list(_CITED.finditer(line))
    if not found:
        return None
    for m in found:
        quote = m.group(2) or m.group(3)
        chunk = texts.get(m.group(1).lower())
        if quote is None or chunk is None or _norm(quote) not in _norm(chunk):
            return None
    return _CITED.sub(lambda m: f"[{m.group(1)}]", line).rstrip()


def verify_quotes(raw: str, texts: Mapping[str, str]) -> tuple[str, int]:
    """``(kept lines joined by newlines, count of removed claims)``; ``texts`` maps each id
    sent (lower case) to its chunk's text."""
    kept: list[str] = []
    removed = 0
    for line in raw.splitlines():
        if not line.strip():
            continue
        good = _check(line, texts)
        if good is None:
            removed += 1
        else:
            kept.append(good)
    return "\n".join(kept), removed
