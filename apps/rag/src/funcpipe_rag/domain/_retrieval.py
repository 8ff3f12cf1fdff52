"""How a collection is searched: dense, sparse (BM25) or hybrid (both, fused by RRF).

``SearchConfig`` is spec data (``resources.search`` of the ingest spec, part of its hash) and
is recorded in the collection's stamp, so a search runs the way its collection was written.
``SearchOptions`` are one query's choices (``k``, ``--per-source``, ``--source``, ``--where``).
Invalid values raise ``ValueError`` at construction with a one-line reason naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from ._types import Vector

Mode: TypeAlias = Literal["dense", "sparse", "hybrid"]
MODES: tuple[Mode, ...] = ("dense", "sparse", "hybrid")
SPARSE_NAME = "bm25"
"""The name of the sparse vector every chunk of a sparse or hybrid collection carries."""

WHERE_FIELDS: tuple[str, ...] = ("title", "headings", "source", "doc_version", "spec_hash")
"""Payload fields ``--where FIELD=VALUE`` may filter on (each has a keyword index)."""


def _present(data: Mapping[str, object], where: str, ints: frozenset[str]) -> dict[str, Any]:
    """The fields ``data`` gives, each checked to be a number (an int for ``ints``); the
    constructor supplies the defaults and checks the bounds."""
    out: dict[str, Any] = {}
    for key, v in data.items():
        want_int = key in ints
        if isinstance(v, bool) or not isinstance(v, int if want_int else int | float):
            kind = "an int" if want_int else "a number"
            raise ValueError(f"{where}.{key} must be {kind}, got {v!r}")
        out[key] = v if want_int else float(v)
    return out


@dataclass(frozen=True, slots=True)
class Bm25Params:
    """Okapi BM25: term saturation ``k1``, length normalisation ``b``, and the average document
    length ``avg_len`` (in tokens) the normalisation assumes. Qdrant's IDF modifier supplies the
    inverse document frequency at query time."""

    k1: float = 1.2
    b: float = 0.75
    avg_len: float = 256.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.k1 <= 10.0:
            raise ValueError(f"search.bm25.k1 must be in [0, 10], got {self.k1}")
        if not 0.0 <= self.b <= 1.0:
            raise ValueError(f"search.bm25.b must be in [0, 1], got {self.b}")
        if not 1.0 <= self.avg_len <= 1e6:
            raise ValueError(f"search.bm25.avg_len must be in [1, 1e6], got {self.avg_len}")

    def to_data(self) -> dict[str, object]:
        return {"k1": self.k1, "b": self.b, "avg_len": self.avg_len}

    @staticmethod
    def from_data(data: object) -> Bm25Params:
        if not isinstance(data, Mapping):
            raise ValueError(f"search.bm25 must be a mapping, got {data!r}")
        unknown = sorted(set(data) - {"k1", "b", "avg_len"})
        if unknown:
            raise ValueError(f"search.bm25: unknown field {unknown[0]!r} (known: k1, b, avg_len)")
        return Bm25Params(**_present(data, "search.bm25", frozenset()))


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """A collection's search: ``mode``; for sparse and hybrid the BM25 parameters; for hybrid
    RRF's ``rrf_k`` and ``weights`` (dense, sparse; Qdrant's weighted RRF) over the
    ``candidates`` best of each list; ``per_source``, the default cap of hits per source.
    The defaults are ``make eval``'s best (hybrid; dense weighed 1.5 to BM25's 1; k 20; one
    hit per source)."""

    mode: Mode = "hybrid"
    bm25: Bm25Params = field(default_factory=Bm25Params)
    rrf_k: int = 20
    weights: tuple[float, float] = (1.5, 1.0)
    candidates: int = 50
    per_source: int = 1

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"search.mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not 1 <= self.rrf_k <= 10_000:
            raise ValueError(f"search.rrf_k must be an int in [1, 10000], got {self.rrf_k}")
        if len(self.weights) != 2 or not all(0 < w <= 100 for w in self.weights):
            raise ValueError(f"search.weights must be two numbers in (0, 100], got {self.weights}")
        if not 1 <= self.candidates <= 1000:
            raise ValueError(f"search.candidates must be in [1, 1000], got {self.candidates}")
        if not 1 <= self.per_source <= 1000:
            raise ValueError(f"search.per_source must be in [1, 1000], got {self.per_source}")

    @property
    def sparse(self) -> bool:
        """Whether chunks carry BM25 vectors (sparse and hybrid collections)."""
        return self.mode != "dense"

    @property
    def dense(self) -> bool:
        """Whether a query is embedded (dense and hybrid)."""
        return self.mode != "sparse"

    def index_key(self) -> tuple[object, ...]:
        """What the stored points depend on: a collection written under another key cannot
        serve this config (its sparse vectors are missing or were made another way)."""
        return (self.sparse, self.bm25 if self.sparse else None)

    def describe(self) -> str:
        if not self.sparse:
            return "search dense"
        p = self.bm25
        return f"search {self.mode} (bm25 k1={p.k1:g} b={p.b:g} avg_len={p.avg_len:g})"

    def to_data(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "bm25": self.bm25.to_data(),
            "rrf_k": self.rrf_k,
            "weights": list(self.weights),
            "candidates": self.candidates,
            "per_source": self.per_source,
        }

    @staticmethod
    def from_data(data: object) -> SearchConfig:
        """Read spec or stamp data; ``ValueError`` naming the bad field."""
        if not isinstance(data, Mapping):
            raise ValueError(f"search must be a mapping, got {data!r}")
        known = {"mode", "bm25", "rrf_k", "weights", "candidates", "per_source"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"search: unknown field {unknown[0]!r} (known: {', '.join(known)})")
        rest = {k: v for k, v in data.items() if k not in ("mode", "bm25", "weights")}
        given = _present(rest, "search", frozenset(rest))
        if "mode" in data:
            given["mode"] = data["mode"]  # the constructor checks it is one of MODES
        if "bm25" in data:
            given["bm25"] = Bm25Params.from_data(data["bm25"])
        if "weights" in data:
            weights = data["weights"]
            if (
                not isinstance(weights, Sequence)
                or isinstance(weights, str)
                or len(weights) != 2
                or not all(isinstance(w, int | float) and not isinstance(w, bool) for w in weights)
            ):
                msg = f"search.weights must be two numbers (dense, sparse), got {weights!r}"
                raise ValueError(msg)
            given["weights"] = (float(weights[0]), float(weights[1]))
        return SearchConfig(**given)


DENSE_ONLY = SearchConfig(mode="dense", per_source=1000)
"""The search of a collection stamped before search configs existed: dense, no cap."""


@dataclass(frozen=True, slots=True)
class SearchOptions:
    """One query's choices: ``k`` hits; at most ``per_source`` per source (None: the
    collection's default); only sources matching one of the ``source`` patterns (a key or a
    glob, as ``delete`` takes them; none: all); only chunks whose payload matches every
    ``where`` field (a repeated field: any of its values; a list field such as ``headings``
    matches when any element does)."""

    k: int = 5
    per_source: int | None = None
    source: tuple[str, ...] = ()
    where: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.k <= 1000:
            raise ValueError(f"k must be in [1, 1000], got {self.k}")
        if self.per_source is not None and not 1 <= self.per_source <= 1000:
            raise ValueError(f"per_source must be in [1, 1000], got {self.per_source}")
        for name, _ in self.where:
            _check_where_field(name)


def _check_where_field(name: str) -> None:
    if name not in WHERE_FIELDS:
        fields = ", ".join(WHERE_FIELDS)
        raise ValueError(f"--where {name}=...: not a filterable field (one of {fields})")


def parse_where(items: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``FIELD=VALUE`` strings -> pairs; ``ValueError`` for one without ``=`` or an unknown
    field."""
    out: list[tuple[str, str]] = []
    for item in items:
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not name:
            raise ValueError(f"--where {item!r}: expected FIELD=VALUE")
        _check_where_field(name)
        out.append((name, value))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class IndexQuery:
    """What the index is asked: by the dense query vector and/or by the BM25 terms of ``text``
    under ``bm25`` (both: fused by RRF over ``candidates`` each, with ``rrf_k`` and
    ``weights``), the ``k`` best chunk points, at most ``per_source`` per source, restricted to
    ``sources`` and the ``where`` pairs."""

    dense: Vector | None
    text: str
    bm25: Bm25Params | None
    k: int
    per_source: int
    sources: tuple[str, ...] | None = None
    where: tuple[tuple[str, str], ...] = ()
    rrf_k: int = 20
    weights: tuple[float, float] = (1.5, 1.0)
    candidates: int = 50

    def __post_init__(self) -> None:
        if self.dense is None and self.bm25 is None:
            raise ValueError("IndexQuery: needs a dense vector or BM25 parameters")
