"""A stub resolver for the URL guard: it answers differently on each lookup (a rebinding name),
so tests reach no real DNS and send nothing beyond loopback."""

from __future__ import annotations

import threading
from collections.abc import Sequence


class FlipResolver:
    """Lookup ``i`` of any name answers ``answers[min(i, len - 1)]`` (the last answer repeats);
    ``lookups`` lists the names asked, in order. Thread-safe (the guard resolves off the loop)."""

    def __init__(self, answers: Sequence[Sequence[str]]) -> None:
        if not answers:
            raise ValueError("FlipResolver needs at least one answer")
        self._answers = [list(a) for a in answers]
        self._lock = threading.Lock()
        self.lookups: list[str] = []

    def __call__(self, host: str) -> list[str]:
        with self._lock:
            i = min(len(self.lookups), len(self._answers) - 1)
            self.lookups.append(host)
            got = self._answers[i]
        if not got:
            raise OSError(f"no address for {host}")
        return list(got)
