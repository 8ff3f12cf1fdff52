"""AsyncPlan laws: monad laws, functor laws, replayability, description purity, lifts.

Only the standard library drives plans here (one ``asyncio.run`` per check), so this file
also runs when funcpipe-async-plan is installed alone.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from funcpipe.async_plan import (
    AsyncAction,
    AsyncPlan,
    async_bind,
    async_from_result,
    async_gather,
    async_lift,
    async_map,
    async_map_err,
    async_pure,
    async_with_resilience,
    async_with_retry,
    lift_sync,
    lift_sync_with_executor,
    resilient_mapper,
)
from funcpipe.policies import ResilienceEnv, RetryPolicy, SystemClock, TimeoutPolicy
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from hypothesis import given
from hypothesis import strategies as st

R = Result[int, ErrInfo]


def run(plan: AsyncPlan[object] | Callable[[], Awaitable[R]]) -> object:
    """Drive ``plan`` once on a fresh loop (tests are shells)."""

    async def main() -> object:
        return await plan()

    return asyncio.run(main())


@dataclass
class Effects:
    """Counts what running plans did: effects performed and coroutines created."""

    log: list[tuple[str, int]] = field(default_factory=list)
    coroutines: int = 0


# --- generated plans and Kleisli arrows --------------------------------------------------

err_infos = st.builds(
    ErrInfo,
    code=st.sampled_from([codes.TRANSIENT, codes.AUTH, codes.INVALID_INPUT]),
    msg=st.text(max_size=3),
    path=st.tuples(st.integers(0, 3)),
)
results: st.SearchStrategy[R] = st.one_of(st.builds(Ok, st.integers()), st.builds(Err, err_infos))


@dataclass(frozen=True)
class Step:
    """A generated Kleisli arrow ``int -> AsyncPlan[int]``: logs ``(tag, x)``, yields
    ``yields`` times to the loop, then returns ``g(x)``."""

    tag: str
    g: Callable[[int], R]
    yields: int

    def arrow(self, fx: Effects) -> Callable[[int], AsyncPlan[int]]:
        def f(x: int) -> AsyncPlan[int]:
            async def _run() -> R:
                fx.log.append((self.tag, x))
                for _ in range(self.yields):
                    await asyncio.sleep(0)
                return self.g(x)

            return _run

        return f


def _like(x: int) -> R:
    return Ok(x)


arrows: st.SearchStrategy[Callable[[int], R]] = st.functions(like=_like, returns=results, pure=True)


def steps(tag: str) -> st.SearchStrategy[Step]:
    return st.builds(Step, tag=st.just(tag), g=arrows, yields=st.integers(0, 2))


def source(fx: Effects, r: R) -> AsyncPlan[int]:
    """A monadic value that logs before yielding ``r``."""

    async def _run() -> R:
        fx.log.append(("m", 0))
        await asyncio.sleep(0)
        return r

    return _run


def observe(make: Callable[[Effects], AsyncPlan[int]]) -> tuple[object, list[tuple[str, int]]]:
    """Result and effect log of running the plan built by ``make``."""
    fx = Effects()
    plan = make(fx)
    return run(plan), fx.log


# --- monad laws --------------------------------------------------------------------------


@given(st.integers(), steps("f"))
def test_left_identity(x: int, f: Step) -> None:
    lhs = observe(lambda fx: async_bind(async_pure(x), f.arrow(fx)))
    rhs = observe(lambda fx: f.arrow(fx)(x))
    assert lhs == rhs


@given(results)
def test_right_identity(r: R) -> None:
    lhs = observe(lambda fx: async_bind(source(fx, r), async_pure))
    rhs = observe(lambda fx: source(fx, r))
    assert lhs == rhs


@given(results, steps("f"), steps("g"))
def test_associativity(r: R, f: Step, g: Step) -> None:
    lhs = observe(lambda fx: async_bind(async_bind(source(fx, r), f.arrow(fx)), g.arrow(fx)))
    rhs = observe(
        lambda fx: async_bind(source(fx, r), lambda x: async_bind(f.arrow(fx)(x), g.arrow(fx)))
    )
    assert lhs == rhs


@given(err_infos, steps("f"))
def test_err_short_circuits_bind(e: ErrInfo, f: Step) -> None:
    result, log = observe(lambda fx: async_bind(async_from_result(Err(e)), f.arrow(fx)))
    assert result == Err(e)
    assert log == []  # f never ran


# --- functor laws and the error side -----------------------------------------------------

int_fns: st.SearchStrategy[Callable[[int], int]] = st.functions(
    like=lambda x: x, returns=st.integers(), pure=True
)


@given(results)
def test_map_identity(r: R) -> None:
    assert observe(lambda fx: async_map(source(fx, r), lambda x: x)) == observe(
        lambda fx: source(fx, r)
    )


@given(results, int_fns, int_fns)
def test_map_composition(r: R, f: Callable[[int], int], g: Callable[[int], int]) -> None:
    lhs = observe(lambda fx: async_map(async_map(source(fx, r), f), g))
    rhs = observe(lambda fx: async_map(source(fx, r), lambda x: g(f(x))))
    assert lhs == rhs
    assert lhs[0] == r.map(lambda x: g(f(x)))


@given(results, st.text(max_size=3))
def test_map_err_touches_only_errors(r: R, stage: str) -> None:
    out = run(async_map_err(async_from_result(r), lambda e: e.with_stage(stage)))
    assert out == r.map_err(lambda e: e.with_stage(stage))


@given(results)
def test_from_result_yields_the_same_object(r: R) -> None:
    assert run(async_from_result(r)) is r


# --- replayability -----------------------------------------------------------------------


def counted_step(fx: Effects, tag: str, g: Callable[[int], R]) -> Callable[[int], AsyncPlan[int]]:
    """An arrow whose plan is ``async_lift`` over a thunk that counts coroutine creations."""

    def f(x: int) -> AsyncPlan[int]:
        async def body() -> R:
            fx.log.append((tag, x))
            await asyncio.sleep(0)
            return g(x)

        def make() -> Awaitable[R]:
            fx.coroutines += 1
            return body()

        return async_lift(make)

    return f


@given(
    st.integers(),
    st.lists(arrows, max_size=6),
)
def test_replayability(x: int, gs: list[Callable[[int], R]]) -> None:
    fx = Effects()
    plan: AsyncPlan[int] = async_pure(x)
    for i, g in enumerate(gs):
        plan = async_bind(plan, counted_step(fx, f"s{i}", g))
    first = run(plan)
    made, log = fx.coroutines, list(fx.log)
    second = run(plan)
    assert first == second
    assert fx.coroutines == 2 * made  # every run made its own fresh coroutines
    assert fx.log == log + log
    # Expected number of steps run: up to and including the first Err.
    expected = 0
    value: R = Ok(x)
    for g in gs:
        if isinstance(value, Err):
            break
        expected += 1
        value = g(value.value)
    assert made == expected
    assert first == value


def test_each_call_is_a_fresh_coroutine() -> None:
    plan = async_bind(async_pure(1), lambda x: async_pure(x + 1))
    c1, c2 = plan(), plan()
    assert c1 is not c2
    for c in (c1, c2):
        assert asyncio.iscoroutine(c)
        c.close()


# --- description purity ------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """A generated plan description: a tree of combinators over counted leaves."""

    kind: str
    value: int = 0
    code: str = codes.TRANSIENT
    children: tuple[Node, ...] = ()


leaves = st.one_of(
    st.builds(Node, kind=st.just("effect"), value=st.integers(-5, 5)),
    st.builds(Node, kind=st.just("pure"), value=st.integers(-5, 5)),
    st.builds(
        Node,
        kind=st.just("err"),
        code=st.sampled_from([codes.TRANSIENT, codes.AUTH]),
        value=st.integers(0, 3),
    ),
    st.builds(Node, kind=st.just("sync"), value=st.integers(-5, 5)),
)


def _extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    one = st.tuples(children)
    return st.one_of(
        st.builds(Node, kind=st.just("bind"), value=st.integers(-3, 3), children=one),
        st.builds(Node, kind=st.just("map"), value=st.integers(-3, 3), children=one),
        st.builds(Node, kind=st.just("map_err"), children=one),
        st.builds(Node, kind=st.just("retry"), value=st.integers(1, 3), children=one),
        st.builds(Node, kind=st.just("timeout"), children=one),
        st.builds(
            Node,
            kind=st.just("gather"),
            value=st.integers(1, 3),
            children=st.lists(children, max_size=4).map(tuple),
        ),
    )


trees = st.recursive(leaves, _extend, max_leaves=12)


def build(node: Node, fx: Effects) -> AsyncPlan[object]:
    """Build the plan described by ``node``; every leaf effect is counted in ``fx``."""
    env = ResilienceEnv(
        rng=random.Random(0), sleep=lambda _s: asyncio.sleep(0), clock=SystemClock()
    )
    if node.kind == "effect":

        def make() -> Awaitable[Result[object, ErrInfo]]:
            fx.coroutines += 1
            return _effect(fx, node.value)

        return async_lift(make)
    if node.kind == "pure":
        return async_pure(node.value)
    if node.kind == "err":
        return async_from_result(Err(ErrInfo(node.code, "leaf", path=(node.value,))))
    if node.kind == "sync":
        return lift_sync(_sync_effect)(fx, node.value)
    child = build(node.children[0], fx) if node.kind != "gather" else None
    if node.kind == "bind":
        assert child is not None
        return async_bind(child, lambda v: _effect_plan(fx, (v, node.value)))
    if node.kind == "map":
        assert child is not None
        return async_map(child, lambda v: (v, node.value))
    if node.kind == "map_err":
        assert child is not None
        return async_map_err(child, lambda e: e.with_stage("s"))
    if node.kind == "retry":
        assert child is not None
        policy = RetryPolicy(max_attempts=node.value, idempotent=True)
        return async_with_retry(child, policy, env)
    if node.kind == "timeout":
        assert child is not None
        return async_with_resilience(child, RetryPolicy(), TimeoutPolicy(60_000), env)
    return async_map(
        async_gather([build(c, fx) for c in node.children], concurrency=node.value), tuple
    )


async def _effect(fx: Effects, value: object) -> Result[object, ErrInfo]:
    fx.log.append(("effect", 0))
    await asyncio.sleep(0)
    return Ok(value)


def _effect_plan(fx: Effects, value: object) -> AsyncPlan[object]:
    def make() -> Awaitable[Result[object, ErrInfo]]:
        fx.coroutines += 1
        return _effect(fx, value)

    return async_lift(make)


def _sync_effect(fx: Effects, value: int) -> int:
    fx.log.append(("sync", value))
    return value


@given(trees)
def test_building_performs_no_effect(tree: Node) -> None:
    async def main() -> tuple[object, object, int, int, int]:
        before = asyncio.all_tasks()
        fx = Effects()
        plan = build(tree, fx)
        # Building: no effect, no coroutine made, no task started.
        assert fx.log == []
        assert fx.coroutines == 0
        assert asyncio.all_tasks() == before
        await asyncio.sleep(0)
        assert fx.log == []
        first = await plan()
        n_effects, n_coroutines = len(fx.log), fx.coroutines
        second = await plan()
        assert asyncio.all_tasks() == before
        return first, second, n_effects, len(fx.log), n_coroutines

    first, second, n_effects, total, n_coroutines = asyncio.run(main())
    assert first == second  # replayable: the same description runs the same way
    assert total == 2 * n_effects
    assert n_coroutines <= n_effects


def test_purity_holds_for_every_combinator() -> None:
    fx = Effects()
    leaf = _effect_plan(fx, 1)
    executor = ThreadPoolExecutor(max_workers=1)
    try:
        built: list[object] = [
            async_bind(leaf, lambda v: _effect_plan(fx, v)),
            async_map(leaf, str),
            async_map_err(leaf, lambda e: e),
            async_gather([leaf, leaf], concurrency=1),
            async_with_resilience(leaf, RetryPolicy(max_attempts=3), TimeoutPolicy(10)),
            async_with_retry(leaf, RetryPolicy(max_attempts=3)),
            resilient_mapper(lambda v: _effect_plan(fx, v), RetryPolicy(max_attempts=2))(1),
            lift_sync(_sync_effect)(fx, 1),
            lift_sync_with_executor(_sync_effect, executor)(fx, 1),
        ]
        assert all(callable(p) for p in built)
        assert fx.log == []
        assert fx.coroutines == 0
    finally:
        executor.shutdown()


# --- lifts -------------------------------------------------------------------------------


@given(st.integers(), st.integers())
def test_lift_sync_runs_when_driven(a: int, b: int) -> None:
    calls: list[tuple[int, int]] = []

    def add(x: int, y: int) -> int:
        calls.append((x, y))
        return x + y

    plan = lift_sync(add)(a, y=b)
    assert calls == []
    assert run(plan) == Ok(a + b)
    assert run(plan) == Ok(a + b)
    assert calls == [(a, b), (a, b)]


@pytest.mark.parametrize("lift", ["sync", "executor"])
def test_lifted_exceptions_become_unexpected(lift: str) -> None:
    boom = ValueError("bad value")

    def f(x: int) -> int:
        raise boom

    with ThreadPoolExecutor(max_workers=1) as executor:
        plan = lift_sync(f)(1) if lift == "sync" else lift_sync_with_executor(f, executor)(1)
        out = run(plan)
    assert isinstance(out, Err)
    assert out.error.code == codes.UNEXPECTED
    assert out.error.cause is boom
    assert "bad value" in out.error.msg


def test_lift_sync_with_executor_runs_off_the_loop() -> None:
    import threading

    seen: list[str] = []

    def where(x: int) -> int:
        seen.append(threading.current_thread().name)
        return x * 2

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="worker") as executor:
        plan = lift_sync_with_executor(where, executor)(21)
        assert seen == []
        assert run(plan) == Ok(42)
    assert len(seen) == 1
    assert seen[0].startswith("worker")


def test_lift_sync_lets_cancellation_through() -> None:
    def cancel() -> int:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        run(lift_sync(cancel)())


def test_async_action_is_the_plan_alias() -> None:
    action: AsyncAction[int] = async_pure(3)
    assert run(action) == Ok(3)
