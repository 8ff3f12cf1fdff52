"""Hypothesis strategies: interleaving seeds, outcomes, fault schedules."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from hypothesis import strategies as st

from ._faults import FAULT_KINDS, OK, FaultKind, FaultSchedule, Outcome

MAX_SEED = 2**32 - 1


def interleaving_seeds() -> st.SearchStrategy[int]:
    """Seeds for ``run_virtual(main, seed=...)``: each one a deterministic task interleaving.

    Hypothesis shrinks a failing seed towards 0 and prints it, so the interleaving replays.
    """
    return st.integers(min_value=0, max_value=MAX_SEED)


def outcomes(
    kinds: Sequence[FaultKind] = FAULT_KINDS,
    *,
    max_latency_ms: int = 2_000,
    latencies: Sequence[int] | None = None,
) -> st.SearchStrategy[Outcome]:
    """Single-attempt outcomes of the given kinds, about a third of them with added latency.

    Latency is drawn from ``latencies`` when given (a coarse grid makes calls finish at the
    same virtual instant, where only the interleaving decides the order), else from
    ``1..max_latency_ms``. Shrinks towards the first kind (put ``"ok"`` first), no latency.
    """
    if not kinds:
        raise ValueError("outcomes: kinds must not be empty")
    return _outcomes(tuple(kinds), max_latency_ms, _grid(latencies))


def _grid(latencies: Sequence[int] | None) -> tuple[int, ...] | None:
    if latencies is None:
        return None
    grid = tuple(latencies)
    if not grid or any(x < 0 for x in grid):
        raise ValueError(f"latencies must be a non-empty sequence of ints >= 0, got {grid}")
    return grid


@functools.lru_cache(maxsize=64)
def _outcomes(
    kinds: tuple[FaultKind, ...], max_latency_ms: int, grid: tuple[int, ...] | None
) -> st.SearchStrategy[Outcome]:
    if grid is not None:  # one cheap draw: two thirds instant, the rest spread over the grid
        weighted = [Outcome(k, 0) for k in kinds for _ in range(2 * len(grid))]
        weighted += [Outcome(k, ms) for k in kinds for ms in grid]
        weighted.sort(key=lambda o: (kinds.index(o.kind), o.latency_ms))
        return st.sampled_from(weighted)
    latency: st.SearchStrategy[int]
    if max_latency_ms <= 0:
        latency = st.just(0)
    else:
        latency = st.one_of(st.just(0), st.just(0), st.integers(1, max_latency_ms))
    return st.builds(Outcome, kind=st.sampled_from(kinds), latency_ms=latency)


@functools.lru_cache(maxsize=64)
def _per_key(
    kinds: tuple[FaultKind, ...],
    max_latency_ms: int,
    grid: tuple[int, ...] | None,
    max_attempts: int,
) -> st.SearchStrategy[list[Outcome]]:
    return st.lists(_outcomes(kinds, max_latency_ms, grid), max_size=max_attempts)


@st.composite
def _schedules(
    draw: st.DrawFn,
    keys: Sequence[str] | st.SearchStrategy[Sequence[str]],
    per_key: st.SearchStrategy[list[Outcome]],
    default: Outcome | st.SearchStrategy[Outcome],
) -> FaultSchedule:
    chosen = draw(keys) if isinstance(keys, st.SearchStrategy) else keys
    planned = {k: draw(per_key) for k in dict.fromkeys(chosen)}
    fallback = draw(default) if isinstance(default, st.SearchStrategy) else default
    return FaultSchedule(planned, fallback)


def fault_schedules(
    keys: Sequence[str] | st.SearchStrategy[Sequence[str]],
    *,
    max_attempts: int = 3,
    kinds: Sequence[FaultKind] = FAULT_KINDS,
    max_latency_ms: int = 2_000,
    latencies: Sequence[int] | None = None,
    default: Outcome | st.SearchStrategy[Outcome] = OK,
) -> st.SearchStrategy[FaultSchedule]:
    """Schedules planning up to ``max_attempts`` outcomes for each of ``keys``.

    ``keys`` may be a strategy (e.g. the keys of drawn documents). Unplanned attempts succeed,
    so a schedule shrinks towards "no faults at all". ``latencies``: see ``outcomes``.
    ``default`` (an outcome or a strategy of one) is what unplanned attempts do, e.g. a base
    latency every call pays.
    """
    if max_attempts < 0:
        raise ValueError(f"fault_schedules: max_attempts must be >= 0, got {max_attempts}")
    if not kinds:
        raise ValueError("fault_schedules: kinds must not be empty")
    frozen = keys if isinstance(keys, st.SearchStrategy) else tuple(keys)
    return _schedules(
        frozen, _per_key(tuple(kinds), max_latency_ms, _grid(latencies), max_attempts), default
    )
