"""Law helpers: norms of traces, keys of results, and one assertion per pipeline law.

Key definition (seed M08C10): an ``Ok`` item's key comes from its value through a key
function; an ``Err`` item's key is ``ErrInfo.path[0]``, so the success and the failure of the
same logical item share a key.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, TypeVar

from funcpipe.result import Err, ErrInfo, Ok, Result
from funcpipe.streams import AsyncGen, close_stream

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

Emitted: TypeAlias = Literal["ok", "err"]
KeyFn: TypeAlias = Callable[[Any], Hashable]


class LawViolation(AssertionError):
    """A pipeline law does not hold; the message names the law and the offending keys."""


def _identity(value: Any) -> Hashable:
    return value  # type: ignore[no-any-return]


def key_for_result(
    result: Result[T, ErrInfo], key: Callable[[T], Hashable] = _identity
) -> Hashable:
    """The law key of one emitted item: ``key(value)`` for ``Ok``, ``error.path[0]`` for ``Err``.

    An ``Err`` with an empty path has no key: ``ValueError`` (the laws need ``path[0]``).
    """
    if isinstance(result, Ok):
        return key(result.value)
    if not result.error.path:
        raise ValueError(
            f"key_for_result: Err({result.error.code}: {result.error.msg}) has an empty path; "
            "the laws need ErrInfo.path[0] to be the item's key"
        )
    return result.error.path[0]


def emission_trace(
    results: Iterable[Result[T, ErrInfo]], key: Callable[[T], Hashable] = _identity
) -> list[tuple[Hashable, Emitted]]:
    """``(key, "ok" | "err")`` for every emitted item, in emission order."""
    return [(key_for_result(r, key), "ok" if isinstance(r, Ok) else "err") for r in results]


def emission_norm(
    emissions: Iterable[Result[T, ErrInfo] | tuple[Hashable, str]],
    key: Callable[[T], Hashable] = _identity,
) -> Counter[tuple[Hashable, str]]:
    """The multiset of ``(key, "ok" | "err")`` emissions; order forgotten.

    Takes emitted ``Result`` items (keyed with ``key_for_result``) or ready ``(key, outcome)``
    pairs.
    """
    norm: Counter[tuple[Hashable, str]] = Counter()
    for item in emissions:
        if isinstance(item, Ok | Err):
            norm[(key_for_result(item, key), "ok" if isinstance(item, Ok) else "err")] += 1
        else:
            norm[item] += 1
    return norm


def attempt_norm(trace: Iterable[tuple[K, str]]) -> Counter[tuple[K, str]]:
    """The multiset of ``(key, outcome)`` attempts (e.g. ``FakeEmbedder.attempt_trace()``)."""
    return Counter(trace)


def _keys_of(results: Iterable[Result[T, ErrInfo]], key: Callable[[T], Hashable]) -> list[Hashable]:
    return [key_for_result(r, key) for r in results]


async def is_key_disjoint(
    *streams: AsyncGen[T], key: Callable[[T], Hashable] = _identity, sample: int | None = None
) -> bool:
    """Whether the streams' keys are pairwise disjoint (the precondition of merging).

    Runs each stream (a fresh iteration, closed afterwards), reading at most ``sample`` items
    of each (all when ``None``): a sample-based check, so ``True`` on a sample is evidence,
    not proof. Must be awaited inside a running loop (e.g. under ``run_virtual``).
    """
    seen: set[Hashable] = set()
    for stream in streams:
        mine: set[Hashable] = set()
        it = stream()
        try:
            count = 0
            while sample is None or count < sample:
                try:
                    item = await anext(it)
                except StopAsyncIteration:
                    break
                mine.add(key_for_result(item, key))
                count += 1
        finally:
            await close_stream(it)
        if mine & seen:
            return False
        seen |= mine
    return True


def key_overlaps(
    *runs: Iterable[Result[T, ErrInfo]], key: Callable[[T], Hashable] = _identity
) -> set[Hashable]:
    """The keys that occur in more than one of ``runs`` (empty when key-disjoint)."""
    owners: Counter[Hashable] = Counter()
    for run in runs:
        owners.update(set(_keys_of(run, key)))
    return {k for k, n in owners.items() if n > 1}


def _duplicates(keys: Iterable[Hashable]) -> dict[Hashable, int]:
    return {k: n for k, n in Counter(keys).items() if n > 1}


def assert_at_most_once_success(
    results: Iterable[Result[T, ErrInfo]], key: Callable[[T], Hashable] = _identity
) -> None:
    """Law (at-most-once success): each key is emitted as ``Ok`` at most once per run."""
    dup = _duplicates(key(r.value) for r in results if isinstance(r, Ok))
    if dup:
        raise LawViolation(f"at-most-once success violated: keys with several Oks: {dup}")


def assert_no_duplication(
    results: Iterable[Result[T, ErrInfo]], key: Callable[[T], Hashable] = _identity
) -> None:
    """Law (no duplication): each key is emitted at most once per run, ``Ok`` or ``Err``."""
    dup = _duplicates(_keys_of(results, key))
    if dup:
        raise LawViolation(f"no duplication violated: keys emitted several times: {dup}")


def assert_no_loss(
    results: Iterable[Result[T, ErrInfo]],
    expected_keys: Iterable[Hashable],
    key: Callable[[T], Hashable] = _identity,
) -> None:
    """Completeness of a full run: every expected key is emitted (as ``Ok`` or ``Err``)."""
    missing = set(expected_keys) - set(_keys_of(results, key))
    if missing:
        raise LawViolation(f"data lost: keys never emitted: {sorted(map(repr, missing))}")


@dataclass(frozen=True)
class LawRun:
    """What one interpretation of a pipeline left behind, as the idempotence law compares it.

    ``state``: the final store state (e.g. ``FakeVectorStore.snapshot()``); ``emissions``: an
    ``emission_norm``; ``attempts``: an ``attempt_norm``.
    """

    state: object
    emissions: Counter[tuple[Hashable, str]] = field(default_factory=Counter)
    attempts: Counter[tuple[Hashable, str]] = field(default_factory=Counter)

    @staticmethod
    def of(
        results: Iterable[Result[T, ErrInfo]],
        *,
        state: object,
        attempts: Iterable[tuple[Hashable, str]] = (),
        key: Callable[[T], Hashable] = _identity,
    ) -> LawRun:
        """Build from emitted items, the final state and an attempt trace."""
        return LawRun(state, emission_norm(results, key), attempt_norm(attempts))


def _exceeding(
    second: Counter[tuple[Hashable, str]], first: Counter[tuple[Hashable, str]]
) -> Counter[tuple[Hashable, str]]:
    return second - first


def assert_idempotent(first: LawRun, second: LawRun) -> None:
    """Law (idempotence): interpreting again with the same failure schedule from the same
    state gives the same final state, and attempts and emissions that are a sub-multiset of
    the first run's (no additional attempts or emissions on repeat).
    """
    if first.state != second.state:
        raise LawViolation(
            f"idempotence violated: final states differ:\n  first:  {first.state!r}\n"
            f"  second: {second.state!r}"
        )
    extra_attempts = _exceeding(second.attempts, first.attempts)
    if extra_attempts:
        raise LawViolation(f"idempotence violated: additional attempts on repeat: {extra_attempts}")
    extra_emissions = _exceeding(second.emissions, first.emissions)
    if extra_emissions:
        raise LawViolation(
            f"idempotence violated: additional emissions on repeat: {extra_emissions}"
        )


def pending_tasks() -> list[asyncio.Task[Any]]:
    """Tasks of the running loop that are not done, other than the caller's own task."""
    me = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t is not me and not t.done()]


def assert_partial_run_safe(
    consumed: Sequence[Result[T, ErrInfo]],
    stored_keys: Iterable[Hashable],
    *,
    key: Callable[[T], Hashable] = _identity,
    open_resources: Mapping[str, int] | None = None,
    running_tasks: Sequence[object] = (),
    in_flight: int = 0,
) -> None:
    """Law (partial-run safety): stopping early and closing leaves nothing dangling and no
    state beyond the consumed prefix.

    Checks, after the consumer stopped and closed the stream: every count in
    ``open_resources`` (connections, file handles, ...) is 0; ``running_tasks`` is empty
    (pass ``pending_tasks()``); every key consumed as ``Ok`` is in ``stored_keys``; and every
    stored key was consumed (``Ok`` or ``Err``), except at most ``in_flight`` keys whose
    write was under way when the run was cancelled (0 after a ``break`` at a yield).
    """
    leaks = {name: n for name, n in (open_resources or {}).items() if n != 0}
    if leaks:
        raise LawViolation(f"partial-run safety violated: resources left open: {leaks}")
    if running_tasks:
        raise LawViolation(f"partial-run safety violated: tasks left running: {running_tasks}")
    stored = set(stored_keys)
    ok_keys = {key(r.value) for r in consumed if isinstance(r, Ok)}
    lost = ok_keys - stored
    if lost:
        raise LawViolation(
            f"partial-run safety violated: consumed Oks missing from the store: {lost}"
        )
    beyond = stored - set(_keys_of(consumed, key))
    if len(beyond) > in_flight:
        raise LawViolation(
            f"partial-run safety violated: stored keys beyond the consumed prefix: {beyond} "
            f"(allowed in flight: {in_flight})"
        )


def assert_composition_preserved(
    parts: Sequence[Sequence[Result[T, ErrInfo]]],
    merged: Sequence[Result[T, ErrInfo]],
    key: Callable[[T], Hashable] = _identity,
    *,
    check_order: bool = False,
) -> None:
    """Law (composition preservation): merging lawful, key-disjoint streams keeps the laws.

    Preconditions (a ``LawViolation`` naming "precondition" if they fail): every part
    satisfies no duplication, and the parts are key-disjoint. Then the merged run must satisfy
    at-most-once success and no duplication, and emit exactly the union of the parts'
    emissions (``emission_norm(merged) == sum of the parts' norms``: nothing lost, nothing
    added). With ``check_order``, each part's items keep their relative order in the merge.
    """
    for i, part in enumerate(parts):
        dup = _duplicates(_keys_of(part, key))
        if dup:
            raise LawViolation(f"composition precondition violated: part {i} duplicates {dup}")
    overlap = key_overlaps(*parts, key=key)
    if overlap:
        raise LawViolation(
            f"composition precondition violated: parts are not key-disjoint: {overlap}"
        )
    assert_at_most_once_success(merged, key)
    assert_no_duplication(merged, key)
    expected: Counter[tuple[Hashable, str]] = Counter()
    for part in parts:
        expected += emission_norm(part, key)
    got = emission_norm(merged, key)
    if got != expected:
        raise LawViolation(
            "composition violated: merged emissions differ from the parts' union: "
            f"missing {expected - got}, extra {got - expected}"
        )
    if check_order:
        merged_keys = _keys_of(merged, key)
        for i, part in enumerate(parts):
            mine = _keys_of(part, key)
            members = set(mine)
            if [k for k in merged_keys if k in members] != mine:
                raise LawViolation(f"composition violated: part {i} lost its order in the merge")
