"""Shared benchmark harness: every benchmark reports a figure beside its baseline, measured in
the same process run, so the ratio is meaningful on a noisy machine."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One line of the report: ``figure`` vs ``baseline`` (same unit) and the target."""

    name: str
    figure: float
    baseline_name: str
    baseline: float
    unit: str
    target: str
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.figure / self.baseline if self.baseline else float("nan")


def best_of(repeats: int, fn: Callable[[], float]) -> float:
    """The smallest of ``repeats`` measurements (least disturbed by the machine)."""
    return min(fn() for _ in range(repeats))


def time_async(make: Callable[[], Awaitable[object]]) -> float:
    """Wall seconds to run one awaitable made by ``make`` on a fresh event loop."""

    async def _timed() -> float:
        t0 = time.perf_counter()
        await make()
        return time.perf_counter() - t0

    return asyncio.run(_timed())


def print_rows(rows: list[Row]) -> None:
    header = f"{'benchmark':<58} {'figure':>12} {'baseline':>12} {'ratio':>7}  unit / target"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r.name:<58} {r.figure:>12.3f} {r.baseline:>12.3f} {r.ratio:>7.2f}  {r.unit}")
        print(f"{'  vs ' + r.baseline_name:<58} {'':>12} {'':>12} {'':>7}  target: {r.target}")
        if r.note:
            print(f"    {r.note}")


def hash_vectors(texts: list[str]) -> list[list[float]]:
    """A deterministic 16-d vector per text: the loopback embedding server's model."""
    out: list[list[float]] = []
    for t in texts:
        h = hashlib.sha256(t.encode("utf-8", "surrogatepass")).digest()
        out.append([b / 255.0 + 0.01 for b in h[:16]])
    return out
