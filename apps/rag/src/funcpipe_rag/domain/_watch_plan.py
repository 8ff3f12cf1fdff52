"""The pure state of ``watch``: which changed paths have settled, batched and bounded.

A path is *settled* when no event touched it for ``settle`` seconds: an editor's atomic save
(write a temporary file, rename it over) or a file still being copied keeps touching it, so
it is read once, complete. Events arriving while a batch runs are coalesced per path (a path
touched a thousand times is one entry); past ``limit`` distinct paths the set is dropped and
the next batch is a full reconcile instead (``overflowed``), so memory stays bounded.

Laws (Hypothesis-checked in the tests): every touched path is taken exactly once after its
last touch settles, unless an overflow replaced it by a reconcile; ``take`` never gives a path
touched less than ``settle`` ago; ``len(self) <= limit``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_SETTLE = 1.0
"""Seconds without an event before a changed path is read."""

DEFAULT_LIMIT = 10_000
"""The most distinct pending paths; past it the next batch is a full reconcile."""


@dataclass(slots=True)
class Pending:
    """Changed paths waiting to settle: path -> (first touch, last touch), in seconds."""

    settle: float = DEFAULT_SETTLE
    limit: int = DEFAULT_LIMIT
    overflowed: bool = False
    _paths: dict[str, tuple[float, float]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._paths)

    def touch(self, path: str, now: float) -> None:
        """An event on ``path`` at ``now``: its settle window starts again."""
        first = self._paths.get(path, (now, now))[0]
        self._paths[path] = (first, now)
        if len(self._paths) > self.limit:
            self._paths.clear()
            self.overflowed = True

    def due(self, now: float) -> float | None:
        """Seconds until the next path settles (0: one has), ``None`` when nothing waits."""
        if self.overflowed:
            return 0.0
        if not self._paths:
            return None
        last = min(t for _, t in self._paths.values())
        return max(0.0, last + self.settle - now)

    def take(self, now: float) -> tuple[list[str], float | None, bool]:
        """The settled paths (sorted, removed from the set), the first touch among them
        (``None`` when none) and whether a full reconcile is due (an overflow; cleared)."""
        ready = sorted(p for p, (_, t) in self._paths.items() if now - t >= self.settle)
        first = min((self._paths[p][0] for p in ready), default=None)
        for p in ready:
            del self._paths[p]
        overflowed, self.overflowed = self.overflowed, False
        return ready, first, overflowed
