"""ChunkPolicy: batching by size and by age."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ._validate import check_bool, check_int, check_keys

T = TypeVar("T")


def _one(_: object) -> int:
    return 1


@dataclass(frozen=True)
class ChunkPolicy(Generic[T]):
    """Batch items until ``max_units`` (sum of ``size_fn``) or ``max_delay_ms`` of age.

    0 disables either limit, but not both: ``max_units == max_delay_ms == 0`` (an unbounded
    batch) raises ``ValueError`` naming both fields. ``size_fn`` returns an int >= 0; an item
    counts at least 1 unit, so a batch never holds more than ``max_units`` items. An item
    bigger than ``max_units`` goes alone. With ``flush_on_err`` an ``Err`` item flushes the
    pending batch first. ``size_fn`` is code, so ``to_dict`` leaves it out and ``from_dict``
    takes it as an argument.
    """

    max_units: int = 128
    max_delay_ms: int = 500
    flush_on_err: bool = True
    size_fn: Callable[[T], int] = field(default=_one, compare=False)

    def __post_init__(self) -> None:
        check_int("ChunkPolicy", "max_units", self.max_units, minimum=0)
        check_int("ChunkPolicy", "max_delay_ms", self.max_delay_ms, minimum=0)
        if self.max_units == 0 and self.max_delay_ms == 0:
            raise ValueError(
                "ChunkPolicy.max_units and ChunkPolicy.max_delay_ms are both 0: the batch "
                "would be unbounded; set at least one of them"
            )
        check_bool("ChunkPolicy", "flush_on_err", self.flush_on_err)
        if not callable(self.size_fn):
            raise ValueError("ChunkPolicy.size_fn must be callable")

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form without ``size_fn`` (code is not data)."""
        return {
            "max_units": self.max_units,
            "max_delay_ms": self.max_delay_ms,
            "flush_on_err": self.flush_on_err,
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], size_fn: Callable[[T], int] = _one
    ) -> ChunkPolicy[T]:
        """Build from plain data plus ``size_fn``; bad data raises ``ValueError``."""
        check_keys("ChunkPolicy", data, frozenset({"max_units", "max_delay_ms", "flush_on_err"}))
        return cls(**data, size_fn=size_fn)
