"""A sparse vector: the port's one representation of BM25 and other sparse embeddings."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MAX_SPARSE_INDEX = 2**32 - 1
"""Qdrant's sparse indices are u32."""


@dataclass(frozen=True, slots=True)
class SparseVector:
    """Non-zero dimensions ``indices`` (distinct ints in ``[0, 2**32)``) and their finite
    ``values``, of equal length. An empty vector is allowed (it matches nothing).

    Invalid data raises ``ValueError`` at construction (adapters turn it into
    ``Err(INVALID_INPUT)`` before it reaches a store).
    """

    indices: tuple[int, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        idx = tuple(self.indices)
        vals = tuple(float(v) for v in self.values)
        if len(idx) != len(vals):
            raise ValueError(f"SparseVector: {len(idx)} indices but {len(vals)} values")
        if any(
            not isinstance(i, int) or isinstance(i, bool) or not 0 <= i <= MAX_SPARSE_INDEX
            for i in idx
        ):
            raise ValueError("SparseVector: indices must be ints in [0, 2**32)")
        if len(set(idx)) != len(idx):
            raise ValueError("SparseVector: indices must be distinct")
        if not all(math.isfinite(v) for v in vals):
            raise ValueError("SparseVector: values must be finite")
        object.__setattr__(self, "indices", idx)
        object.__setattr__(self, "values", vals)

    @classmethod
    def of(cls, indices: Sequence[int], values: Sequence[float]) -> SparseVector:
        """Build from any sequences (e.g. a model's lists)."""
        return cls(tuple(indices), tuple(values))

    def dot(self, other: SparseVector, weight: dict[int, float] | None = None) -> float:
        """Sum of ``self[i] * other[i] * weight.get(i, 1)`` over shared indices."""
        mine = dict(zip(self.indices, self.values, strict=True))
        total = 0.0
        for i, v in zip(other.indices, other.values, strict=True):
            if i in mine:
                total += mine[i] * v * (1.0 if weight is None else weight.get(i, 1.0))
        return total
