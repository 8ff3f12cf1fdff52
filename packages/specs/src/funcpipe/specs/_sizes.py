"""Named size functions: how a chunk policy in a spec says what a batch's size counts.

A ``ChunkPolicy.size_fn`` is code, so a spec names it instead: ``{"size": "<id>"}`` in the
chunk policy's data. The id is resolved only against the built-in sizes and the sizes given
to the receiving process's ``Registry``; never by import path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeAlias

from ._ids import is_id

SizeFn: TypeAlias = Callable[[object], int]
"""The size of one item, an int >= 0 (a batch holds at most ``max_units`` of them)."""

DEFAULT_SIZE = "count"
"""The size a chunk policy has when its data names none: 1 per item."""


@dataclass(frozen=True, slots=True)
class NamedSize:
    """A size function known by id; use it as ``ChunkPolicy(size_fn=...)`` in a spec.

    It travels as ``"size": id`` in the chunk policy's data. A size function that raises or
    returns a negative size makes that item an ``Err`` (see ``async_gen_chunk``). Sizes have
    no version: they decide how items are grouped, not what an op computes. Bad ``id`` or
    ``fn`` raises ``ValueError``.
    """

    id: str
    fn: SizeFn

    def __post_init__(self) -> None:
        if not is_id(self.id):
            raise ValueError(f"NamedSize.id {self.id!r} is not a valid id")
        if not callable(self.fn):
            raise ValueError("NamedSize.fn must be callable")

    def __call__(self, item: object) -> int:
        """The size of ``item``."""
        return self.fn(item)


def _count(item: object) -> int:
    return 1


def _chars(item: object) -> int:
    if isinstance(item, str):
        return len(item)
    text = getattr(item, "text", None)
    if isinstance(text, str):
        return len(text)
    raise TypeError(
        f"size 'chars' needs a str or an item with a str 'text', got a {type(item).__name__}"
    )


SIZE_COUNT = NamedSize(DEFAULT_SIZE, _count)
"""Built in: 1 per item (batching by count; the same as leaving the size out)."""

SIZE_CHARS = NamedSize("chars", _chars)
"""Built in: ``len`` of a str item, or of an item's str ``text`` attribute (else an Err item)."""

BUILTIN_SIZES: Mapping[str, NamedSize] = MappingProxyType(
    {s.id: s for s in (SIZE_COUNT, SIZE_CHARS)}
)
"""Sizes every receiving process knows, without registering or allow-listing them."""
