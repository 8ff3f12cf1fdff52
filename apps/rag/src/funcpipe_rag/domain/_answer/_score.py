"""Sentence scores against a question: dense cosine and IDF-weighted term coverage; MMR.

Laws: ``terms`` is lower case and deterministic; ``coverage`` is in ``[0, 1]`` (1 when every
question term occurs in the sentence, 0 when none does or the question has no terms);
``cosine`` is in ``[-1, 1]`` (0 for a zero vector); ``mmr`` returns distinct indices, at most
``k``, the first being the best-scored one, and never an index whose score is below ``floor``.
Pure; never raises on well-formed input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

_WORD = re.compile(r"[A-Za-z0-9_]+")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "did",
        "for",
        "from",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "my",
        "of",
        "on",
        "or",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "this",
        "those",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "we",
        "our",
        "me",
        "use",
        "used",
        "using",
        "get",
    ]
)


def _stem(word: str) -> str:
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def terms(text: str) -> list[str]:
    """Content words of ``text``: lower case, stopwords removed, crudely stemmed."""
    out: list[str] = []
    for m in _WORD.finditer(text):
        w = m.group().lower()
        if w not in STOPWORDS:
            out.append(_stem(w))
    return out


def idf(docs: Sequence[Sequence[str]]) -> Callable[[str], float]:
    """BM25's IDF over ``docs`` (term lists): ``ln(1 + (N - df + 0.5) / (df + 0.5))``."""
    n = len(docs)
    df: dict[str, int] = {}
    for d in docs:
        for t in set(d):
            df[t] = df.get(t, 0) + 1

    def _idf(t: str) -> float:
        f = df.get(t, 0)
        return math.log(1.0 + (n - f + 0.5) / (f + 0.5))

    return _idf


def coverage(
    question: Sequence[str], sentence: Sequence[str], weight: Callable[[str], float]
) -> float:
    """The weighted share of the question's distinct terms that occur in the sentence."""
    q = set(question)
    total = sum(weight(t) for t in q)
    if total <= 0:
        return 0.0
    s = set(sentence)
    return sum(weight(t) for t in q if t in s) / total


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity (0 when either vector is zero)."""
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    if na == 0 or nb == 0:
        return 0.0
    return max(-1.0, min(1.0, dot / (na * nb)))


def mmr(
    scores: Sequence[float],
    similarity: Callable[[int, int], float],
    k: int,
    *,
    diversity: float = 0.3,
    floor: float = float("-inf"),
) -> list[int]:
    """Maximal marginal relevance: repeatedly take the index maximising
    ``(1 - diversity) * score - diversity * max similarity to those taken``; ties go to the
    lower index. Indices scored below ``floor`` are never taken."""
    left = [i for i, s in enumerate(scores) if s >= floor]
    taken: list[int] = []
    while left and len(taken) < k:

        def gain(i: int) -> float:
            near = max((similarity(i, j) for j in taken), default=0.0)
            return (1 - diversity) * scores[i] - diversity * near

        best = max(left, key=lambda i: (gain(i), -i))
        taken.append(best)
        left.remove(best)
    return taken
