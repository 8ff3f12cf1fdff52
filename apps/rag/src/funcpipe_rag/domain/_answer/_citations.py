"""Citation markers in a model's answer: short ids, validation, renumbering, streaming.

The prompt gives each chunk a short id derived from its point id (``short_ids``; never its
position). The model cites with ``[id]`` (or ``[id, id]``). ``MarkerState`` rewrites the answer
as it streams: a marker naming ids that were sent becomes ``[n]`` (``n`` numbered by first
use); an unknown id (invented, out of range) is removed and counted in ``dropped``. A bracket
that cannot be a marker (no digit, not a sent id, too long) is ordinary text.

Laws, for any split of a raw answer into deltas fed in order then ``finish``: the output is the
same as for the whole text fed at once (streamed reassembly equals the non-streamed answer);
every ``[n]`` in the output names ``used[n - 1]``, an id that was sent; ``used`` is in order of
first use, without duplicates; each marker is emitted whole within one delta's output. Pure.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

MAX_MARKER = 64
_MARKER = re.compile(r"\[([A-Za-z0-9_\- ,;]{1,62})\]")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{1,16}$")


def short_ids(point_ids: Sequence[str], length: int = 6) -> list[str]:
    """A stable id per point id: ``c`` + the first ``length`` hex digits of its SHA-256, made
    longer where two would collide. The same point always gets the same id, whatever the
    order or the other points sent (unless a collision needs more digits)."""
    digests = [hashlib.sha256(p.encode()).hexdigest() for p in point_ids]
    n = length
    while len({d[:n] for d in digests}) < len(set(digests)) and n < 64:
        n += 2
    return ["c" + d[:n] for d in digests]


def _is_candidate(token: str, known: Mapping[str, int]) -> bool:
    return token.lower() in known or (
        _TOKEN.match(token) is not None and any(ch.isdigit() for ch in token)
    )


@dataclass(frozen=True, slots=True)
class MarkerState:
    """The fold state: ``known`` ids sent (lower case), ``used`` in first-use order,
    ``dropped`` unknown ids removed, ``pending`` text held back (a marker not yet closed),
    ``emitted`` the rewritten text so far."""

    known: frozenset[str]
    used: tuple[str, ...] = ()
    dropped: int = 0
    pending: str = ""
    emitted: str = ""


def start(ids: Sequence[str]) -> MarkerState:
    """The initial state for an answer citing among ``ids``."""
    return MarkerState(frozenset(i.lower() for i in ids))


def _rewrite(state: MarkerState, text: str) -> tuple[MarkerState, str]:
    """Rewrite every complete marker of ``text``."""
    used = list(state.used)
    dropped = state.dropped
    known = dict.fromkeys(state.known, 0)

    def one(m: re.Match[str]) -> str:
        nonlocal dropped
        tokens = [t.strip() for t in re.split(r"[,;]", m.group(1))]
        if not tokens or not all(t and _is_candidate(t, known) for t in tokens):
            return m.group(0)
        out: list[str] = []
        for t in tokens:
            key = t.lower()
            if key not in known:
                dropped += 1
                continue
            if key not in used:
                used.append(key)
            out.append(f"[{used.index(key) + 1}]")
        return "".join(dict.fromkeys(out))

    rewritten = _MARKER.sub(one, text)
    return replace(state, used=tuple(used), dropped=dropped), rewritten


def feed(state: MarkerState, delta: str) -> tuple[MarkerState, str]:
    """Take one delta; return the new state and the text safe to emit now (everything but a
    trailing ``[`` that may still become a marker)."""
    text = state.pending + delta
    cut = text.rfind("[")
    hold = ""
    if cut >= 0 and "]" not in text[cut:] and len(text) - cut < MAX_MARKER:
        text, hold = text[:cut], text[cut:]
    new, out = _rewrite(replace(state, pending=""), text)
    return replace(new, pending=hold, emitted=new.emitted + out), out


def finish(state: MarkerState) -> tuple[MarkerState, str]:
    """End of the answer: emit what was held back (an unclosed bracket is text)."""
    new, out = _rewrite(replace(state, pending=""), state.pending)
    return replace(new, emitted=new.emitted + out), out


def renumber(ids: Sequence[str], raw: str) -> tuple[str, tuple[str, ...], int]:
    """The whole answer at once: ``(text, used ids in first-use order, dropped count)``."""
    state, out = feed(start(ids), raw)
    state, tail = finish(state)
    return out + tail, state.used, state.dropped
