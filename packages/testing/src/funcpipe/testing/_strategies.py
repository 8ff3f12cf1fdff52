"""Hypothesis strategies: interleaving seeds, outcomes, fault schedules."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from ._faults import FAULT_KINDS, FaultKind, FaultSchedule, Outcome

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
) -> st.SearchStrategy[Outcome]:
    """Single-attempt outcomes of the given kinds, about a third of them with added latency.

    Shrinks towards the first kind (put ``"ok"`` first) with no latency.
    """
    if not kinds:
        raise ValueError("outcomes: kinds must not be empty")
    latency = (
        st.just(0)
        if max_latency_ms <= 0
        else st.one_of(st.just(0), st.just(0), st.integers(1, max_latency_ms))
    )
    return st.builds(Outcome, kind=st.sampled_from(tuple(kinds)), latency_ms=latency)


def fault_schedules(
    keys: Sequence[str] | st.SearchStrategy[Sequence[str]],
    *,
    max_attempts: int = 3,
    kinds: Sequence[FaultKind] = FAULT_KINDS,
    max_latency_ms: int = 2_000,
) -> st.SearchStrategy[FaultSchedule]:
    """Schedules planning up to ``max_attempts`` outcomes for each of ``keys``.

    ``keys`` may be a strategy (e.g. the keys of drawn documents). Unplanned attempts succeed,
    so a schedule shrinks towards "no faults at all".
    """
    if max_attempts < 0:
        raise ValueError(f"fault_schedules: max_attempts must be >= 0, got {max_attempts}")
    if isinstance(keys, st.SearchStrategy):
        return keys.flatmap(
            lambda ks: fault_schedules(
                ks, max_attempts=max_attempts, kinds=kinds, max_latency_ms=max_latency_ms
            )
        )
    one = outcomes(kinds, max_latency_ms=max_latency_ms)
    per_key = {k: st.lists(one, max_size=max_attempts) for k in dict.fromkeys(keys)}
    return st.fixed_dictionaries(per_key).map(FaultSchedule)
