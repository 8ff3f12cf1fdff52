"""The chat prompt: the retrieved chunks under their short ids, within a token budget.

Token counts are estimates from characters (no tokenizer is loaded): ``budget_tokens`` is
conservative (3 characters a token: real tokenizers give more characters a token for prose and
code), ``least_tokens`` a floor (6 characters a token) used to tell that a server read less
than it was sent. Laws: ``build_prompt`` keeps hits in rank order, always at least the first,
never more than fit ``context`` (by the conservative estimate) after the answer's reserve unless
only the first is kept; ids are ``short_ids`` of the hits' chunk ids. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from funcpipe_rag.domain._types import SearchHit

from ._citations import short_ids
from ._quotes import QUOTE_INSTRUCTION

SYSTEM = (
    "You answer questions using only the sources given. Each source starts with its id in "
    "square brackets. After every claim, cite the source it comes from by its id in square "
    "brackets, for example [c1a2b3c]. Use no other knowledge. If the sources do not contain "
    "the answer, say that they do not."
)
ANSWER_RESERVE = 512
"""Tokens kept free for the answer (``max_tokens`` asked of the server)."""


def budget_tokens(text: str) -> int:
    """A conservative (high) token estimate: one token per 3 characters."""
    return len(text) // 3 + 1


def least_tokens(text: str) -> int:
    """A low token estimate: one token per 6 characters."""
    return len(text) // 6


@dataclass(frozen=True, slots=True)
class Prompt:
    """The chat ``messages``; ``hits`` sent (rank order) and their ``ids``; ``chars`` sent."""

    messages: tuple[dict[str, str], ...]
    hits: tuple[SearchHit, ...]
    ids: tuple[str, ...]
    quotes: bool = False
    """The model was asked for a quote per citation (``--verify quotes``)."""

    @property
    def chars(self) -> int:
        return sum(len(m["content"]) for m in self.messages)

    def shrunk(self, question: str) -> Prompt:
        """The same prompt with the lower-ranked half of its hits left out (at least one)."""
        keep = max(1, len(self.hits) // 2)
        return _prompt(question, self.hits[:keep], self.ids[:keep], self.quotes)


def _source_block(sid: str, hit: SearchHit) -> str:
    where = " > ".join(dict.fromkeys(x for x in (hit.title, *hit.headings) if x))
    head = f"[{sid}] {hit.source}" + (f" ({where})" if where else "")
    return f"{head}\n{hit.text.strip()}"


def _prompt(
    question: str, hits: Sequence[SearchHit], ids: Sequence[str], quotes: bool = False
) -> Prompt:
    blocks = "\n\n".join(_source_block(s, h) for s, h in zip(ids, hits, strict=True))
    user = f"Sources:\n\n{blocks}\n\nQuestion: {question.strip()}"
    system = SYSTEM + (QUOTE_INSTRUCTION if quotes else "")
    messages = ({"role": "system", "content": system}, {"role": "user", "content": user})
    return Prompt(messages, tuple(hits), tuple(ids), quotes)


def build_prompt(
    question: str, hits: Sequence[SearchHit], context: int, *, quotes: bool = False
) -> Prompt:
    """The prompt for ``question`` over as many of ``hits`` (rank order) as fit ``context``
    tokens with ``ANSWER_RESERVE`` left for the answer; ``quotes`` asks for a quote per
    citation."""
    ids = short_ids([h.chunk_id for h in hits])
    room = context - ANSWER_RESERVE - budget_tokens(SYSTEM + question) - 16
    keep = 0
    for h, s in zip(hits, ids, strict=True):
        room -= budget_tokens(_source_block(s, h)) + 1
        if room < 0 and keep > 0:
            break
        keep += 1
    return _prompt(question, hits[:keep], ids[:keep], quotes)


def server_truncated(prompt: Prompt, prompt_tokens: int | None) -> bool:
    """Whether the server reports reading fewer prompt tokens than even the low estimate of
    what was sent (Ollama cuts a long prompt to its context silently). Unknown usage: False."""
    return prompt_tokens is not None and prompt_tokens < least_tokens(
        "".join(m["content"] for m in prompt.messages)
    )
