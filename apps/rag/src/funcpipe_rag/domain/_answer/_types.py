"""The result of ``ask``: an answer, the citations it uses, and how it was made.

``Answer.to_json()`` is the ``--json`` document and the ``POST /v1/ask`` body:
``{"answer", "answered", "citations": [{"n", "source", "title", "headings", "start", "end",
"text"}], "mode", "model", "usage", "truncated", "dropped_markers"}`` (plus ``"reason"`` when
refused). Citation ``n`` is 1-based in order of first use; ``start``/``end`` are the cited
chunk's exact span in its source; ``text`` its readable text. ``usage`` is ``None`` when the
server did not report it (unknown, never 0).
"""

from __future__ import annotations

from dataclasses import dataclass

from funcpipe_rag.domain._types import SearchHit

MODE_EXTRACTIVE = "extractive"
MODE_MODEL = "model"


@dataclass(frozen=True, slots=True)
class Citation:
    """Citation ``n`` of an answer: the chunk ``hit`` it points at."""

    n: int
    hit: SearchHit

    def to_json(self) -> dict[str, object]:
        h = self.hit
        return {
            "n": self.n,
            "source": h.source,
            "title": h.title,
            "headings": list(h.headings),
            "start": h.start,
            "end": h.end,
            "text": h.text,
            "chunk_id": h.chunk_id,
        }


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the chat server reported them."""

    prompt_tokens: int
    completion_tokens: int

    def to_json(self) -> dict[str, object]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer (or a refusal: ``answered`` False, ``reason`` one line, no citations)."""

    answer: str
    answered: bool
    citations: tuple[Citation, ...]
    mode: str
    model: str | None = None
    usage: Usage | None = None
    truncated: bool = False
    dropped_markers: int = 0
    reason: str = ""
    relevance: float | None = None
    claims_removed: int | None = None
    """With ``--verify quotes``: claims left out because their quote is not in the cited
    chunk (in the JSON document only then)."""
    """The best retrieved sentence's relevance (what the floor is compared with; not in the
    JSON document)."""

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "answer": self.answer,
            "answered": self.answered,
            "citations": [c.to_json() for c in self.citations],
            "mode": self.mode,
            "model": self.model,
            "usage": self.usage.to_json() if self.usage else None,
            "truncated": self.truncated,
            "dropped_markers": self.dropped_markers,
        }
        if not self.answered:
            doc["reason"] = self.reason
        if self.claims_removed is not None:
            doc["claims_removed"] = self.claims_removed
        return doc


def refusal(
    reason: str, mode: str, model: str | None = None, relevance: float | None = None
) -> Answer:
    """A refusal with a one-line ``reason``."""
    return Answer("", False, (), mode, model, reason=" ".join(reason.split()), relevance=relevance)
