"""The extractive answer: the retrieved chunks' best sentences, each followed by its citation.

Laws, for ``a = extractive_answer(hits, ...)``: every sentence of ``a.answer`` is a sentence
of the readable text of the hit its marker names, whitespace runs made one space (it cannot
invent text);
citations are numbered 1.. in order of first use and are exactly the chunks the answer cites;
``a.answered`` is False (no citations) when no candidate reaches the floor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from funcpipe_rag.domain._types import SearchHit, Vector

from ._score import cosine, coverage, idf, mmr, terms
from ._sentences import sentence_spans
from ._types import MODE_EXTRACTIVE, Answer, Citation, refusal

MIN_WORDS = 4
MAX_CHARS = 600
DEFAULT_FLOOR = 0.33
"""Relevance floor (see ``AskOptions.floor``), measured by ``make eval``: at 0.33, 90% of the
questions the corpus cannot answer are refused and under 3% of those it can."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """Sentence ``text`` of hit ``hit`` (its index), at ``[start, end)`` of the hit's text."""

    hit: int
    start: int
    end: int
    text: str


def candidates(hits: Sequence[SearchHit]) -> list[Candidate]:
    """Every answer-worthy sentence of ``hits`` in hit order: at least ``MIN_WORDS`` words, at
    most ``MAX_CHARS`` characters, not a heading line; a sentence already seen (overlapping
    chunks) is kept only at its first hit."""
    seen: set[str] = set()
    out: list[Candidate] = []
    for i, h in enumerate(hits):
        for a, b in sentence_spans(h.text):
            text = h.text[a:b]
            key = " ".join(text.split()).lower()
            if len(text) > MAX_CHARS or len(text.split()) < MIN_WORDS or key in seen:
                continue
            if text.lstrip().startswith("#") or text.strip() in (h.title, *h.headings):
                continue
            seen.add(key)
            out.append(Candidate(i, a, b, text))
    return out


def relevance(
    question: str,
    cands: Sequence[Candidate],
    question_vec: Vector,
    vectors: Sequence[Vector],
) -> list[float]:
    """Each candidate's relevance in ``[-0.5, 1]``: the mean of its cosine to the question and
    its IDF-weighted coverage of the question's terms (IDF over the candidates)."""
    q = terms(question)
    docs = [terms(c.text) for c in cands]
    weight = idf(docs)
    return [
        0.5 * cosine(question_vec, v) + 0.5 * coverage(q, d, weight)
        for v, d in zip(vectors, docs, strict=True)
    ]


def extractive_answer(
    hits: Sequence[SearchHit],
    cands: Sequence[Candidate],
    scores: Sequence[float],
    vectors: Sequence[Vector],
    *,
    floor: float = DEFAULT_FLOOR,
    most: int = 4,
) -> Answer:
    """Pick 2 to ``most`` sentences by MMR among those scoring at least ``floor`` and at least
    ``0.7`` of the best (at least 2 whenever two pass the floor), and answer with them in the
    order picked, each followed by ``[n]``. No candidate at the floor: a refusal."""
    best = max(scores, default=float("-inf"))
    if not cands or best < floor:
        why = "no retrieved passage is relevant enough to answer from"
        if not hits:
            why = "nothing in the collection matches the question"
        return refusal(
            f"{why} (best relevance {max(best, 0.0):.2f} < floor {floor:.2f})",
            MODE_EXTRACTIVE,
            relevance=best if cands else None,
        )
    picked = mmr(scores, lambda i, j: cosine(vectors[i], vectors[j]), most, floor=floor)
    keep = [i for n, i in enumerate(picked) if n < 2 or scores[i] >= 0.7 * best]
    numbers: dict[int, int] = {}
    parts: list[str] = []
    for i in keep:
        c = cands[i]
        n = numbers.setdefault(c.hit, len(numbers) + 1)
        parts.append(f"{' '.join(c.text.split())} [{n}]")
    cites = tuple(Citation(n, hits[h]) for h, n in numbers.items())
    return Answer(" ".join(parts), True, cites, MODE_EXTRACTIVE, relevance=best)
