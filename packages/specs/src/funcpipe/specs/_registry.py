"""The registry: named, versioned factories built in code by the process that runs them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeAlias

from funcpipe.async_plan import AsyncPlan
from funcpipe.streams import AsyncGen

from ._ids import is_id
from ._models import OpKind
from ._sizes import BUILTIN_SIZES, NamedSize

# A registry holds factories of any item type (a spec names them as data, so their types are
# erased there): the item and output types are Any, so a lambda factory needs no annotation.

Params: TypeAlias = Mapping[str, object]
"""An op's params as a deep read-only mapping (dicts are read-only, lists are tuples)."""

Factory: TypeAlias = Callable[[Params], Callable[..., object]]

_KINDS: frozenset[str] = frozenset({"Map", "FlatMap", "BatchMap", "Sink"})


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    """A factory the receiving process trusts: ``factory(params)`` returns the op's callable.

    Map and Sink: ``item -> AsyncPlan[out]``; FlatMap: ``item -> AsyncGen[out]``; BatchMap:
    ``list[item] -> AsyncPlan[list[out]]``. Bump ``version`` whenever the behaviour changes,
    so specs built against the old behaviour are refused (VERSION_MISMATCH).
    """

    id: str
    kind: OpKind
    version: str
    factory: Factory

    def __post_init__(self) -> None:
        if not is_id(self.id):
            raise ValueError(f"RegistryEntry.id {self.id!r} is not a valid id")
        if self.kind not in _KINDS:
            raise ValueError(f"RegistryEntry.kind must be one of {sorted(_KINDS)}")
        if not isinstance(self.version, str) or not self.version or len(self.version) > 128:
            raise ValueError("RegistryEntry.version must be a non-empty string (<= 128 chars)")
        if not callable(self.factory):
            raise ValueError("RegistryEntry.factory must be callable")


def map_entry(
    id: str, version: str, factory: Callable[[Params], Callable[[Any], AsyncPlan[Any]]]
) -> RegistryEntry:
    """A Map entry: ``factory(params)`` returns ``item -> AsyncPlan[out]``."""
    return RegistryEntry(id, "Map", version, factory)


def flat_map_entry(
    id: str, version: str, factory: Callable[[Params], Callable[[Any], AsyncGen[Any]]]
) -> RegistryEntry:
    """A FlatMap entry: ``factory(params)`` returns ``item -> AsyncGen[out]``."""
    return RegistryEntry(id, "FlatMap", version, factory)


def batch_map_entry(
    id: str, version: str, factory: Callable[[Params], Callable[[list[Any]], AsyncPlan[list[Any]]]]
) -> RegistryEntry:
    """A BatchMap entry: ``factory(params)`` returns ``list[item] -> AsyncPlan[list[out]]``."""
    return RegistryEntry(id, "BatchMap", version, factory)


def sink_entry(
    id: str, version: str, factory: Callable[[Params], Callable[[Any], AsyncPlan[Any]]]
) -> RegistryEntry:
    """A Sink entry: ``factory(params)`` returns an idempotent write ``item -> AsyncPlan[out]``."""
    return RegistryEntry(id, "Sink", version, factory)


class Registry(Mapping[str, RegistryEntry]):
    """An immutable mapping from id to op entry, plus the named sizes the process trusts.

    ``sizes`` are the ``NamedSize`` functions a spec's chunk policy may name, beside the
    built-in ones (``count``, ``chars``, which cannot be redefined). Ids are unique across
    entries and sizes, so one allow-list covers both; a duplicate raises ``ValueError``.
    Nothing is ever looked up by import path: only what is given here exists.
    """

    __slots__ = ("_entries", "_sizes")

    def __init__(
        self, entries: Iterable[RegistryEntry] = (), *, sizes: Iterable[NamedSize] = ()
    ) -> None:
        table: dict[str, RegistryEntry] = {}
        for entry in entries:
            if not isinstance(entry, RegistryEntry):
                raise ValueError(f"Registry takes RegistryEntry values, got {type(entry).__name__}")
            if entry.id in table:
                raise ValueError(f"duplicate registry id {entry.id!r}")
            table[entry.id] = entry
        size_table: dict[str, NamedSize] = {}
        for size in sizes:
            if not isinstance(size, NamedSize):
                raise ValueError(f"Registry sizes are NamedSize values, got {type(size).__name__}")
            if size.id in BUILTIN_SIZES:
                raise ValueError(f"size {size.id!r} is built in and cannot be registered")
            if size.id in size_table or size.id in table:
                raise ValueError(f"duplicate registry id {size.id!r}")
            size_table[size.id] = size
        self._entries = table
        self._sizes: Mapping[str, NamedSize] = MappingProxyType(size_table)

    def __getitem__(self, key: str) -> RegistryEntry:
        return self._entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        inner = ", ".join(f"{e.id}@{e.version}" for e in self._entries.values())
        sizes = f", sizes=[{', '.join(self._sizes)}]" if self._sizes else ""
        return f"Registry({inner}{sizes})"

    @property
    def sizes(self) -> Mapping[str, NamedSize]:
        """The registered named sizes by id (read-only; the built-in ones are not listed)."""
        return self._sizes

    def with_entries(self, *entries: RegistryEntry) -> Registry:
        """A new registry with ``entries`` added (a duplicate id raises ``ValueError``)."""
        return Registry((*self._entries.values(), *entries), sizes=self._sizes.values())

    def with_sizes(self, *sizes: NamedSize) -> Registry:
        """A new registry with ``sizes`` added (a duplicate id raises ``ValueError``)."""
        return Registry(self._entries.values(), sizes=(*self._sizes.values(), *sizes))
