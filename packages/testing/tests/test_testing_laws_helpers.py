"""The law helpers: keys, norms, disjointness and one assertion per law."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Hashable

import pytest
from funcpipe.result import Err, ErrInfo, Ok, Result
from funcpipe.streams import AsyncGen
from funcpipe.testing import (
    LawRun,
    LawViolation,
    assert_at_most_once_success,
    assert_composition_preserved,
    assert_idempotent,
    assert_no_duplication,
    assert_no_loss,
    assert_partial_run_safe,
    attempt_norm,
    emission_norm,
    emission_trace,
    is_key_disjoint,
    key_for_result,
    key_overlaps,
    pending_tasks,
    run_virtual,
)
from hypothesis import given, settings
from hypothesis import strategies as st

R = Result[str, ErrInfo]


def err(key: str, code: str = "TRANSIENT") -> R:
    return Err(ErrInfo(code, "failed", path=(key, 0)))


def _gen(items: list[R]) -> AsyncGen[str]:
    async def _it() -> AsyncIterator[R]:
        for item in items:
            yield item

    return _it


# -- keys and norms -----------------------------------------------------------------------


def test_key_for_result_uses_the_value_or_the_path() -> None:
    assert key_for_result(Ok("k1")) == "k1"
    assert key_for_result(Ok({"id": "k2"}), lambda v: v["id"]) == "k2"
    assert key_for_result(err("k3")) == "k3"
    with pytest.raises(ValueError, match="empty path"):
        key_for_result(Err(ErrInfo("X", "no key")))


def test_ok_and_err_of_one_item_share_a_key() -> None:
    assert key_for_result(Ok("k")) == key_for_result(err("k"))


def test_norms_count_and_forget_order() -> None:
    results = [Ok("a"), err("b"), Ok("c"), err("b")]
    assert emission_trace(results) == [("a", "ok"), ("b", "err"), ("c", "ok"), ("b", "err")]
    assert emission_norm(results) == Counter({("a", "ok"): 1, ("b", "err"): 2, ("c", "ok"): 1})
    assert emission_norm(list(reversed(results))) == emission_norm(results)
    assert emission_norm([("a", "ok"), ("a", "ok")]) == Counter({("a", "ok"): 2})
    assert attempt_norm([("a", "retry"), ("a", "ok")]) == Counter(
        {("a", "retry"): 1, ("a", "ok"): 1}
    )


# -- per-run laws -------------------------------------------------------------------------


def test_at_most_once_success() -> None:
    assert_at_most_once_success([Ok("a"), err("a"), Ok("b")])
    with pytest.raises(LawViolation, match=r"at-most-once.*'a'"):
        assert_at_most_once_success([Ok("a"), Ok("b"), Ok("a")])


def test_no_duplication_counts_oks_and_errs_alike() -> None:
    assert_no_duplication([Ok("a"), err("b")])
    with pytest.raises(LawViolation, match="no duplication"):
        assert_no_duplication([Ok("a"), err("a")])


def test_no_loss() -> None:
    assert_no_loss([Ok("a"), err("b")], {"a", "b"})
    with pytest.raises(LawViolation, match="'c'"):
        assert_no_loss([Ok("a")], {"a", "c"})


@settings(max_examples=100)
@given(keys=st.lists(st.sampled_from("abcdef"), max_size=12), oks=st.lists(st.booleans()))
def test_no_duplication_agrees_with_a_set_count(keys: list[str], oks: list[bool]) -> None:
    results = [Ok(k) if i < len(oks) and oks[i] else err(k) for i, k in enumerate(keys)]
    holds = len(set(keys)) == len(keys)
    try:
        assert_no_duplication(results)
    except LawViolation:
        assert not holds
    else:
        assert holds


# -- idempotence --------------------------------------------------------------------------


def test_idempotent_runs() -> None:
    first = LawRun.of([Ok("a"), err("b")], state={"a": 1}, attempts=[("a", "ok"), ("b", "x")])
    same = LawRun.of([err("b"), Ok("a")], state={"a": 1}, attempts=[("b", "x"), ("a", "ok")])
    fewer = LawRun.of([Ok("a")], state={"a": 1}, attempts=[])
    assert_idempotent(first, same)
    assert_idempotent(first, fewer)  # a sub-multiset is allowed on repeat


def test_idempotence_violations() -> None:
    first = LawRun.of([Ok("a")], state={"a": 1}, attempts=[("a", "ok")])
    with pytest.raises(LawViolation, match="final states differ"):
        assert_idempotent(first, LawRun.of([Ok("a")], state={"a": 2}, attempts=[("a", "ok")]))
    with pytest.raises(LawViolation, match="additional attempts"):
        assert_idempotent(
            first, LawRun.of([Ok("a")], state={"a": 1}, attempts=[("a", "ok"), ("a", "ok")])
        )
    with pytest.raises(LawViolation, match="additional emissions"):
        assert_idempotent(
            first, LawRun.of([Ok("a"), Ok("a")], state={"a": 1}, attempts=[("a", "ok")])
        )


# -- partial runs -------------------------------------------------------------------------


def test_partial_run_safety() -> None:
    consumed = [Ok("a"), err("b")]
    assert_partial_run_safe(consumed, {"a"}, open_resources={"conn": 0})
    assert_partial_run_safe(consumed, {"a", "b"})  # an Err'd write may have landed
    assert_partial_run_safe(consumed, {"a", "z"}, in_flight=1)
    with pytest.raises(LawViolation, match="resources left open"):
        assert_partial_run_safe(consumed, {"a"}, open_resources={"conn": 1})
    with pytest.raises(LawViolation, match="tasks left running"):
        assert_partial_run_safe(consumed, {"a"}, running_tasks=["t"])
    with pytest.raises(LawViolation, match="missing from the store"):
        assert_partial_run_safe(consumed, set())
    with pytest.raises(LawViolation, match="beyond the consumed prefix"):
        assert_partial_run_safe(consumed, {"a", "z"})


def test_pending_tasks_sees_other_tasks_only() -> None:
    async def main() -> tuple[int, int]:
        task = asyncio.create_task(asyncio.sleep(5))
        await asyncio.sleep(0)
        before = len(pending_tasks())
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return before, len(pending_tasks())

    assert run_virtual(main) == (1, 0)


# -- composition --------------------------------------------------------------------------


def test_is_key_disjoint_over_streams() -> None:
    a = _gen([Ok("a1"), err("a2")])
    b = _gen([Ok("b1")])
    c = _gen([Ok("b1"), Ok("c2")])

    async def main() -> tuple[bool, bool, bool, bool]:
        return (
            await is_key_disjoint(a, b),
            await is_key_disjoint(a, b, c),
            await is_key_disjoint(b, c, sample=1),
            await is_key_disjoint(_gen([Ok("x"), Ok("b1")]), b, sample=1),  # sample misses it
        )

    assert run_virtual(main) == (True, False, False, True)


def test_is_key_disjoint_closes_what_it_samples() -> None:
    closed: list[bool] = []

    def infinite() -> AsyncIterator[R]:
        async def _it() -> AsyncIterator[R]:
            n = 0
            try:
                while True:
                    n += 1
                    yield Ok(f"k{n}")
            finally:
                closed.append(True)

        return _it()

    async def main() -> bool:
        return await is_key_disjoint(infinite, _gen([Ok("z")]), sample=3)

    assert run_virtual(main) is True
    assert closed == [True]


def test_composition_preserved_and_its_precondition() -> None:
    p1: list[R] = [Ok("a"), err("b")]
    p2: list[R] = [Ok("c")]
    assert key_overlaps(p1, p2) == set()
    assert_composition_preserved([p1, p2], [Ok("c"), Ok("a"), err("b")], check_order=True)
    with pytest.raises(LawViolation, match="lost its order"):
        assert_composition_preserved([p1, p2], [err("b"), Ok("a"), Ok("c")], check_order=True)
    with pytest.raises(LawViolation, match="missing"):
        assert_composition_preserved([p1, p2], [Ok("a"), Ok("c")])
    with pytest.raises(LawViolation, match="no duplication"):
        assert_composition_preserved([p1, p2], [Ok("a"), err("b"), Ok("c"), err("c")])
    overlapping: list[R] = [Ok("a")]
    assert key_overlaps(p1, overlapping) == {"a"}
    with pytest.raises(LawViolation, match=r"precondition.*key-disjoint"):
        assert_composition_preserved([p1, overlapping], [Ok("a"), err("b"), Ok("a")])
    with pytest.raises(LawViolation, match=r"precondition.*part 0"):
        assert_composition_preserved([[Ok("a"), Ok("a")]], [Ok("a"), Ok("a")])


def test_custom_keys_work_everywhere() -> None:
    def by_id(v: dict[str, str]) -> Hashable:
        return v["id"]

    results: list[Result[dict[str, str], ErrInfo]] = [Ok({"id": "x"}), Ok({"id": "x"})]
    with pytest.raises(LawViolation):
        assert_at_most_once_success(results, by_id)
    assert emission_norm(results, by_id) == Counter({("x", "ok"): 2})
