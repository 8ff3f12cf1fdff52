"""Reconstruction laws: reproducibility and equivalence, and how each op kind is rebuilt.

Everything runs on ``funcpipe.testing.run_virtual``: sleeps, timeouts, backoff and rate limits
use the virtual loop clock, so the tests are deterministic and take no real time.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

import pytest
from funcpipe.async_plan import AsyncPlan, async_pure, resilient_mapper
from funcpipe.policies import (
    BackpressurePolicy,
    ChunkPolicy,
    RateLimitPolicy,
    RealSleeper,
    ResilienceEnv,
    RetryPolicy,
    SystemClock,
    TimeoutPolicy,
)
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.specs import (
    SIZE_CHARS,
    SIZE_COUNT,
    NamedSize,
    OpSpec,
    Params,
    Pipeline,
    Registry,
    RegistryEntry,
    batch_map_entry,
    batch_map_op,
    flat_map_entry,
    flat_map_op,
    map_entry,
    map_op,
    parse,
    pipeline_spec,
    reconstruct_pipeline,
    serialize,
    sink_entry,
    sink_op,
)
from funcpipe.streams import (
    AsyncGen,
    async_gen_bounded_map,
    async_gen_chunk,
    async_gen_drop_errors,
    async_gen_flat_map,
    async_gen_flatten,
    async_gen_from_list,
    async_gen_from_results,
    async_gen_map_action,
    async_gen_rate_limited,
    async_gen_take_until_err,
)
from funcpipe.testing import run_virtual
from hypothesis import event, given
from hypothesis import strategies as st

# ---------------------------------------------------------------- a test registry


def _int(params: Params, key: str, default: int) -> int:
    value = params.get(key, default)
    assert isinstance(value, int)
    return value


def add_factory(params: Params) -> Callable[[int], AsyncPlan[int]]:
    """x + n; a permanent INVALID_INPUT error when x % 7 == 3."""
    n = _int(params, "n", 1)

    def run(x: int) -> AsyncPlan[int]:
        if x % 7 == 3:
            return lambda: _err(codes.INVALID_INPUT, f"bad {x}", x)
        return async_pure(x + n)

    return run


async def _err(code: str, msg: str, key: int) -> Result[int, ErrInfo]:
    return Err(ErrInfo(code, msg, path=(key,)))


def flaky_factory(params: Params) -> Callable[[int], AsyncPlan[int]]:
    """For odd x the plan fails TRANSIENT on its first ``fails`` attempts; then gives x * 2."""
    fails = _int(params, "fails", 1)

    def run(x: int) -> AsyncPlan[int]:
        attempts = [0]

        async def plan() -> Result[int, ErrInfo]:
            attempts[0] += 1
            await asyncio.sleep(0.001 * (x % 4))
            if x % 2 == 1 and attempts[0] <= fails:
                return Err(ErrInfo(codes.TRANSIENT, f"flaky {x}", path=(x,)))
            return Ok(x * 2)

        return plan

    return run


def slow_factory(params: Params) -> Callable[[int], AsyncPlan[int]]:
    """Sleeps (x % 5) * unit_ms of virtual time, then gives x; records peak concurrency."""
    unit = _int(params, "unit_ms", 10)

    def run(x: int) -> AsyncPlan[int]:
        async def plan() -> Result[int, ErrInfo]:
            PROBE.enter()
            try:
                await asyncio.sleep((x % 5) * unit / 1000)
            finally:
                PROBE.leave()
            return Ok(x)

        return plan

    return run


def repeat_factory(params: Params) -> Callable[[int], AsyncGen[int]]:
    """x repeated x % 3 times, then an Err when x % 5 == 4."""
    times = _int(params, "mod", 3)

    def run(x: int) -> AsyncGen[int]:
        items: list[Result[int, ErrInfo]] = [Ok(x)] * (x % times)
        if x % 5 == 4:
            items.append(Err(ErrInfo(codes.INVALID_INPUT, f"repeat {x}", path=(x,))))
        return async_gen_from_results(items)

    return run


def scale_factory(params: Params) -> Callable[[list[int]], AsyncPlan[list[Result[int, ErrInfo]]]]:
    """Per-item results x * k (Err for x % 6 == 5); the whole batch fails if it holds 13."""
    k = _int(params, "k", 10)

    def run(xs: list[int]) -> AsyncPlan[list[Result[int, ErrInfo]]]:
        async def plan() -> Result[list[Result[int, ErrInfo]], ErrInfo]:
            if 13 in xs:
                return Err(ErrInfo(codes.SERVICE_SPECIFIC, f"batch {xs}", path=(xs[0],)))
            out: list[Result[int, ErrInfo]] = [
                Err(ErrInfo(codes.INVALID_INPUT, f"scale {x}", path=(x,)))
                if x % 6 == 5
                else Ok(x * k)
                for x in xs
            ]
            return Ok(out)

        return plan

    return run


@dataclass
class Probe:
    """Counts calls and the peak number of plans running at once."""

    running: int = 0
    peak: int = 0
    calls: list[str] = field(default_factory=list)

    def enter(self) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)

    def leave(self) -> None:
        self.running -= 1


PROBE = Probe()


def make_registry(store: dict[int, int]) -> Registry:
    """Built in code by the receiving process; the sink closes over a live store."""

    def sink_factory(params: Params) -> Callable[[int], AsyncPlan[int]]:
        def write(x: int) -> AsyncPlan[int]:
            async def plan() -> Result[int, ErrInfo]:
                store[x] = x  # idempotent: writing twice leaves the same state
                return Ok(x)

            return plan

        return write

    return Registry(
        [
            map_entry("add", "1", add_factory),
            map_entry("flaky", "1", flaky_factory),
            map_entry("slow", "1", slow_factory),
            flat_map_entry("repeat", "1", repeat_factory),
            batch_map_entry("scale", "1", scale_factory),
            sink_entry("store", "1", sink_factory),
        ],
        sizes=[DIGITS],
    )


def _digits(x: object) -> int:
    return len(str(x))


DIGITS = NamedSize("digits", _digits)
"""A registered size: how many characters an item prints as."""

STORE: dict[int, int] = {}
REGISTRY = make_registry(STORE)
ALLOW = frozenset(REGISTRY) | frozenset(REGISTRY.sizes)


def _env(seed: int = 0) -> ResilienceEnv:
    return ResilienceEnv(rng=random.Random(seed), sleep=asyncio.sleep, clock=SystemClock())


def run_stream(make: Callable[[], AsyncGen[object]]) -> list[Result[object, ErrInfo]]:
    """Build (inside the virtual loop) and drain a stream."""

    async def main() -> list[Result[object, ErrInfo]]:
        return [item async for item in make()()]

    return run_virtual(main)


def drain(stream: AsyncGen[object]) -> list[Result[object, ErrInfo]]:
    """Drain a stream that was built (purely) outside the loop."""
    return run_stream(lambda: stream)


def source(xs: Sequence[int | None]) -> AsyncGen[object]:
    """Ok(x) for ints; an Err in place of each None (source errors must flow on)."""
    items: list[Result[object, ErrInfo]] = [
        Ok(x) if x is not None else Err(ErrInfo(codes.PARSE_ERROR, f"src {i}", path=(i,)))
        for i, x in enumerate(xs)
    ]
    return async_gen_from_results(items)


def rebuilt(ops: Sequence[OpSpec], *, fmt: Literal["json", "yaml"] = "json") -> Pipeline:
    """Publish the spec, ship it as text, parse it and rebuild it (the full cross-process path)."""
    text = serialize(pipeline_spec("test", ops), fmt)
    spec = parse(text, fmt).unwrap()
    return reconstruct_pipeline(spec, REGISTRY, allow_list=ALLOW, env=_env()).unwrap()


# ---------------------------------------------------------------- the same pipeline in code

ErrorPolicy = Literal["collect", "drop", "fail_fast"]


@dataclass(frozen=True)
class CodeOp:
    """An op as a developer writes it in code: the entry, its params and policy objects."""

    entry: RegistryEntry
    params: dict[str, int]
    error_policy: ErrorPolicy = "collect"
    retry: RetryPolicy | None = None
    timeout: TimeoutPolicy | None = None
    backpressure: BackpressurePolicy | None = None
    rate_limit: RateLimitPolicy | None = None
    chunk: ChunkPolicy[object] | None = None

    def spec(self) -> OpSpec:
        """The op's spec, through the public builders."""
        e, params, ep = self.entry, self.params, self.error_policy
        if e.kind == "FlatMap":
            return flat_map_op(e, params=params, error_policy=ep, rate_limit=self.rate_limit)
        if e.kind == "BatchMap":
            assert self.chunk is not None
            return batch_map_op(
                e,
                chunk=self.chunk,
                params=params,
                error_policy=ep,
                retry=self.retry,
                timeout=self.timeout,
                backpressure=self.backpressure,
                rate_limit=self.rate_limit,
            )
        build = map_op if e.kind == "Map" else sink_op
        return build(
            e,
            params=params,
            error_policy=ep,
            retry=self.retry,
            timeout=self.timeout,
            backpressure=self.backpressure,
            rate_limit=self.rate_limit,
        )


def in_code(ops: Sequence[CodeOp], src: AsyncGen[object], env: ResilienceEnv) -> AsyncGen[object]:
    """The pipeline composed directly from the functions and policy objects, no spec involved."""
    out = src
    for op in ops:
        fn = op.entry.factory(op.params)
        limited = (
            (lambda s: s)
            if op.rate_limit is None
            else (lambda s, rl=op.rate_limit: async_gen_rate_limited(s, rl, env=env))
        )
        if op.entry.kind == "FlatMap":
            out = async_gen_flat_map(limited(out), cast(Callable[[object], AsyncGen[object]], fn))
        else:
            f = cast(Callable[[object], AsyncPlan[object]], fn)
            if op.retry is not None or op.timeout is not None:
                f = resilient_mapper(f, op.retry or RetryPolicy(), op.timeout, env)
            if op.entry.kind == "BatchMap":
                assert op.chunk is not None
                staged = limited(
                    cast(AsyncGen[object], async_gen_chunk(out, op.chunk)(RealSleeper()))
                )
            else:
                staged = limited(out)
            if op.backpressure is None:
                mapped = async_gen_map_action(staged, f)
            else:
                mapped = async_gen_bounded_map(staged, f, op.backpressure)
            out = async_gen_flatten(mapped) if op.entry.kind == "BatchMap" else mapped  # type: ignore[arg-type]
        if op.error_policy == "drop":
            out = async_gen_drop_errors(out)
        elif op.error_policy == "fail_fast":
            out = async_gen_take_until_err(out)
    return out


# ---------------------------------------------------------------- strategies

retries = st.none() | st.builds(
    RetryPolicy,
    max_attempts=st.integers(1, 3),
    backoff_base_ms=st.integers(0, 50),
    jitter_factor=st.sampled_from([0.0, 0.5]),
)
timeouts = st.none() | st.builds(TimeoutPolicy, timeout_ms=st.integers(5, 60))
backpressures = st.none() | st.builds(
    BackpressurePolicy, max_concurrent=st.integers(1, 4), ordered=st.booleans()
)
rate_limits = st.none() | st.builds(
    RateLimitPolicy, tokens_per_second=st.sampled_from([5.0, 50.0]), burst_tokens=st.integers(1, 3)
)
chunks = st.builds(
    ChunkPolicy[object],
    max_units=st.integers(1, 4),
    max_delay_ms=st.sampled_from([0, 5, 1000]),
    flush_on_err=st.booleans(),
    size_fn=st.sampled_from([ChunkPolicy[object]().size_fn, SIZE_COUNT, DIGITS]),
)
error_policies: st.SearchStrategy[ErrorPolicy] = st.sampled_from(["collect", "drop", "fail_fast"])


@st.composite
def code_ops(draw: st.DrawFn) -> CodeOp:
    entry = REGISTRY[draw(st.sampled_from(sorted(REGISTRY)))]
    params = {
        "add": {"n": draw(st.integers(-3, 3))},
        "flaky": {"fails": draw(st.integers(0, 2))},
        "slow": {"unit_ms": draw(st.integers(1, 20))},
        "repeat": {"mod": draw(st.integers(1, 3))},
        "scale": {"k": draw(st.integers(1, 5))},
        "store": {},
    }[entry.id]
    ep = draw(error_policies)
    if entry.kind == "FlatMap":
        return CodeOp(entry, params, ep, rate_limit=draw(rate_limits))
    chunk = draw(chunks) if entry.kind == "BatchMap" else None
    return CodeOp(
        entry,
        params,
        ep,
        retry=draw(retries),
        timeout=draw(timeouts),
        backpressure=draw(backpressures),
        rate_limit=draw(rate_limits),
        chunk=chunk,
    )


inputs = st.lists(st.integers(-4, 30).map(lambda x: None if x < 0 else x), min_size=1, max_size=12)
"""Mostly values, sometimes a source Err (None)."""
pipelines = st.lists(code_ops(), min_size=1, max_size=3)


# ---------------------------------------------------------------- the laws


@given(pipelines, inputs, st.sampled_from(["json", "yaml"]))
def test_equivalence_with_the_pipeline_built_in_code(
    ops: list[CodeOp], xs: list[int | None], fmt: Literal["json", "yaml"]
) -> None:
    """Built in code vs shipped as a spec and rebuilt: the same outputs, errors included."""
    from_spec = rebuilt([op.spec() for op in ops], fmt=fmt)
    expected = run_stream(lambda: in_code(ops, source(xs), _env()))
    actual = run_stream(lambda: from_spec.describe(source(xs)))
    assert actual == expected
    event(f"outputs: {'ok' if any(r.is_ok() for r in actual) else 'no ok'}")
    event(f"outputs: {'err' if any(r.is_err() for r in actual) else 'no err'}")


@given(pipelines, inputs)
def test_reconstruction_is_reproducible(ops: list[CodeOp], xs: list[int | None]) -> None:
    """Same spec + same registry: two reconstructions give identical outputs (and replays)."""
    spec = pipeline_spec("repro", [op.spec() for op in ops])
    first = reconstruct_pipeline(spec, REGISTRY, allow_list=ALLOW, env=_env()).unwrap()
    second = reconstruct_pipeline(spec, REGISTRY, allow_list=ALLOW, env=_env()).unwrap()
    assert first.hash == second.hash == spec.version
    out1 = run_stream(lambda: first.describe(source(xs)))
    assert run_stream(lambda: second.describe(source(xs))) == out1
    # Replayable: the same items again. (The env's rng has moved on, so jittered backoff may
    # reorder an unordered bounded map; the multiset of items is still the same.)
    replay = run_stream(lambda: first.describe(source(xs)))
    assert sorted(map(repr, replay)) == sorted(map(repr, out1))


def test_equivalence_sees_errors_of_every_kind() -> None:
    """The generated cases are not vacuous: errors from sources, ops, batches and retries."""
    ops = [
        CodeOp(REGISTRY["add"], {"n": 1}),
        CodeOp(REGISTRY["flaky"], {"fails": 1}),
        CodeOp(REGISTRY["repeat"], {"mod": 3}),
        CodeOp(REGISTRY["scale"], {"k": 2}, chunk=ChunkPolicy(max_units=2)),
    ]
    xs = [None, *range(20)]
    out = run_stream(lambda: rebuilt([op.spec() for op in ops]).describe(source(xs)))
    assert out == run_stream(lambda: in_code(ops, source(xs), _env()))
    found = {r.error.code for r in out if isinstance(r, Err)}
    assert {codes.PARSE_ERROR, codes.INVALID_INPUT, codes.TRANSIENT} <= found
    assert any(isinstance(r, Ok) for r in out)


# ---------------------------------------------------------------- each kind, each policy


def test_map_with_retry_and_timeout() -> None:
    flaky = REGISTRY["flaky"]
    xs = list(range(8))
    plain = run_stream(lambda: rebuilt([map_op(flaky)]).describe(source(xs)))
    assert [r.error.code if isinstance(r, Err) else r.value for r in plain] == [
        codes.TRANSIENT if x % 2 else x * 2 for x in xs
    ]
    retried = rebuilt([map_op(flaky, retry=RetryPolicy(max_attempts=2, backoff_base_ms=5))])
    assert run_stream(lambda: retried.describe(source(xs))) == [Ok(x * 2) for x in xs]
    slow = REGISTRY["slow"]
    timed = rebuilt([map_op(slow, params={"unit_ms": 10}, timeout=TimeoutPolicy(25))])
    out = run_stream(lambda: timed.describe(source(xs)))
    assert [isinstance(r, Ok) for r in out] == [x % 5 < 3 for x in xs]
    assert {r.error.code for r in out if isinstance(r, Err)} == {codes.TIMEOUT}


def test_map_with_backpressure_is_bounded_and_ordered() -> None:
    slow = REGISTRY["slow"]
    xs = list(range(30))
    for limit in (1, 3):
        PROBE.peak = 0
        bp = BackpressurePolicy(max_concurrent=limit, ordered=True)
        stream = rebuilt([map_op(slow, backpressure=bp)]).describe(source(xs))
        assert drain(stream) == [Ok(x) for x in xs]
        assert PROBE.peak == limit  # bounded, and the bound was actually reached
    unordered = rebuilt([map_op(slow, backpressure=BackpressurePolicy(3, ordered=False))])
    out = run_stream(lambda: unordered.describe(source(xs)))
    assert sorted(r.unwrap() for r in out) == xs  # type: ignore[type-var]
    assert [r.unwrap() for r in out] != xs


def test_batch_map_chunks_then_flattens_per_item_results() -> None:
    scale = REGISTRY["scale"]
    pipe = rebuilt([batch_map_op(scale, params={"k": 10}, chunk=ChunkPolicy(max_units=3))])
    xs = [1, 2, 5, 7, 13, 14, 20]
    out = run_stream(lambda: pipe.describe(source(xs)))
    # batches [1,2,5] [7,13,14] [20]: per-item Err for 5; the batch holding 13 fails whole.
    assert out[:2] == [Ok(10), Ok(20)]
    assert isinstance(out[2], Err)
    assert out[2].error.code == codes.INVALID_INPUT
    assert isinstance(out[3], Err)
    assert out[3].error.code == codes.SERVICE_SPECIFIC
    assert out[4:] == [Ok(200)]


@dataclass(frozen=True)
class Doc:
    text: str


def _groups_factory(params: Params) -> Callable[[list[object]], AsyncPlan[list[tuple[int, int]]]]:
    """Each item of a batch becomes (its index in the batch, the batch's length)."""

    def run(xs: list[object]) -> AsyncPlan[list[tuple[int, int]]]:
        return async_pure([(i, len(xs)) for i in range(len(xs))])

    return run


GROUPS = batch_map_entry("groups", "1", _groups_factory)


def _greedy(sizes: list[int], limit: int) -> list[int]:
    """Batch lengths when batching by size alone: fill up to ``limit``; bigger goes alone."""
    out: list[int] = []
    n = units = 0
    for size in sizes:
        if size > limit:
            out += [n, 1] if n else [1]
            n = units = 0
            continue
        if n and units + size > limit:
            out.append(n)
            n = units = 0
        n, units = n + 1, units + size
        if units >= limit:
            out.append(n)
            n = units = 0
    return [*out, n] if n else out


texts = st.text(alphabet="ab ", max_size=8)


@given(
    st.lists(texts | texts.map(Doc), max_size=15),
    st.integers(1, 12),
    st.sampled_from(["json", "yaml"]),
)
def test_batch_map_by_chars_through_a_spec(
    items: list[str | Doc], limit: int, fmt: Literal["json", "yaml"]
) -> None:
    """A built-in size travels as its name: batches hold at most ``limit`` characters."""
    chunk = ChunkPolicy[object](max_units=limit, max_delay_ms=0, size_fn=SIZE_CHARS)
    spec = pipeline_spec("chars", [batch_map_op(GROUPS, chunk=chunk)])
    assert spec.ops[0].policies.chunk == {**chunk.to_dict(), "size": "chars"}
    received = parse(serialize(spec, fmt), fmt).unwrap()
    # Built-in sizes need no registration and no allow-listing.
    pipe = reconstruct_pipeline(received, Registry([GROUPS]), allow_list={"groups"}).unwrap()
    out = drain(pipe.describe(async_gen_from_list(items)))
    lengths = [n for i, n in (cast(tuple[int, int], r.unwrap()) for r in out) if i == 0]
    # An item costs at least one unit (an empty text too), so a batch is also at most
    # ``limit`` items long.
    sizes = [max(1, len(x) if isinstance(x, str) else len(x.text)) for x in items]
    assert lengths == _greedy(sizes, limit)
    batches = async_gen_chunk(async_gen_from_list(list[object](items)), chunk)(RealSleeper())
    fn = cast(Callable[[list[object]], AsyncPlan[list[object]]], GROUPS.factory({}))
    in_code: AsyncGen[object] = async_gen_flatten(async_gen_map_action(batches, fn))
    assert drain(in_code) == out


def test_an_item_a_size_cannot_measure_becomes_an_err() -> None:
    chunk = ChunkPolicy[object](max_units=10, max_delay_ms=0, size_fn=SIZE_CHARS)
    spec = pipeline_spec("chars", [batch_map_op(GROUPS, chunk=chunk)])
    pipe = reconstruct_pipeline(spec, Registry([GROUPS]), allow_list={"groups"}).unwrap()
    out = drain(pipe.describe(async_gen_from_list(["ab", 7, "c"])))
    assert out[0] == Ok((0, 1))  # the pending batch is flushed before the Err
    assert out[2] == Ok((0, 1))
    assert isinstance(out[1], Err)
    assert out[1].error.code == codes.UNEXPECTED
    assert "size 'chars'" in out[1].error.msg


def test_registered_sizes() -> None:
    spec = pipeline_spec(
        "digits",
        [batch_map_op(GROUPS, chunk="by_digits")],
        policies={"by_digits": ChunkPolicy(max_units=3, max_delay_ms=0, size_fn=DIGITS)},
    )
    assert spec.policies["by_digits"].config["size"] == "digits"
    registry = Registry([GROUPS], sizes=[DIGITS])
    pipe = reconstruct_pipeline(spec, registry, allow_list={"groups", "digits"}).unwrap()
    # sizes 1, 2, 1, 3, 1 with at most 3 units: batches [1, 22] [4] [100] [7]
    out = drain(pipe.describe(source([1, 22, 4, 100, 7])))
    assert out == [Ok((0, 2)), Ok((1, 2)), Ok((0, 1)), Ok((0, 1)), Ok((0, 1))]
    with pytest.raises(ValueError, match="built in"):
        Registry(sizes=[NamedSize("chars", len)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="duplicate"):
        Registry([GROUPS], sizes=[NamedSize("groups", _digits)])
    with pytest.raises(ValueError, match="duplicate"):
        REGISTRY.with_sizes(NamedSize("digits", _digits))
    with pytest.raises(ValueError, match="not a valid id"):
        NamedSize("a b", _digits)
    assert REGISTRY.with_entries(GROUPS).sizes == {"digits": DIGITS}
    assert "sizes=[digits]" in repr(REGISTRY)


def test_flat_map_and_sink() -> None:
    store: dict[int, int] = {}
    registry = make_registry(store)
    spec = pipeline_spec(
        "fm",
        [flat_map_op(registry["repeat"], params={"mod": 3}), sink_op(registry["store"])],
    )
    pipe = reconstruct_pipeline(spec, registry, allow_list=set(registry)).unwrap()
    out = run_stream(lambda: pipe.describe(source([1, 2, 3, 4])))
    # 1 -> [1]; 2 -> [2, 2]; 3 -> []; 4 -> [4, Err]. The sink writes each Ok, skips the Err.
    assert out[:4] == [Ok(1), Ok(2), Ok(2), Ok(4)]
    assert len(out) == 5
    assert isinstance(out[4], Err)
    assert out[4].error.msg == "repeat 4"
    assert store == {1: 1, 2: 2, 4: 4}


def test_rate_limit_paces_the_op_on_the_loop_clock() -> None:
    add = REGISTRY["add"]
    pipe = rebuilt([map_op(add, rate_limit=RateLimitPolicy(tokens_per_second=2.0, burst_tokens=1))])

    async def main() -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = len([r async for r in pipe.describe(source(list(range(5))))()])
        return loop.time() - start, n

    elapsed, n = run_virtual(main)
    assert n == 5
    assert elapsed == pytest.approx(2.0)  # 1 burst token, then 4 more at 2 per virtual second


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("collect", ["ok0", "err1", "ok2", "err3", "ok4"]),
        ("drop", ["ok0", "ok2", "ok4"]),
        ("fail_fast", ["ok0", "err1"]),
    ],
)
def test_error_policies(policy: ErrorPolicy, expected: list[str]) -> None:
    pulled: list[int] = []
    closed: list[bool] = []

    def src() -> AsyncIterator[Result[object, ErrInfo]]:
        async def gen() -> AsyncIterator[Result[object, ErrInfo]]:
            try:
                for i in range(5):
                    pulled.append(i)
                    yield Ok(i) if i % 2 == 0 else Err(ErrInfo(codes.INVALID_INPUT, str(i)))
            finally:
                closed.append(True)

        return gen()

    pipe = rebuilt([map_op(REGISTRY["add"], params={"n": 0}, error_policy=policy)])
    closed_on_arrival: list[int] = []

    async def main() -> list[Result[object, ErrInfo]]:
        out = []
        async for item in pipe.describe(src)():
            closed_on_arrival.append(len(closed))
            out.append(item)
        return out

    out = run_virtual(main)
    assert [f"ok{r.value}" if isinstance(r, Ok) else f"err{r.error.msg}" for r in out] == expected
    assert closed == [True]
    # fail_fast closes the source before it hands on the Err; the others read it to its end.
    assert closed_on_arrival == [0] * (len(expected) - 1) + [1 if policy == "fail_fast" else 0]
    assert pulled == (list(range(2)) if policy == "fail_fast" else list(range(5)))


def test_describe_is_lazy_and_params_are_read_only() -> None:
    seen: list[object] = []

    def factory(params: Params) -> Callable[[int], AsyncPlan[int]]:
        seen.append(params)

        def run(x: int) -> AsyncPlan[int]:
            seen.append(x)
            return async_pure(x)

        return run

    entry = map_entry("probe", "1", factory)
    spec = pipeline_spec("lazy", [map_op(entry, params={"a": {"b": [1, 2]}})])
    pipe = reconstruct_pipeline(spec, Registry([entry]), allow_list={"probe"}).unwrap()
    assert len(seen) == 1  # the factory ran once, at reconstruction
    params = cast(Params, seen[0])
    with pytest.raises(TypeError):
        params["a"] = 1  # type: ignore[index]
    inner = params["a"]
    assert not isinstance(inner, dict)
    assert inner == {"b": (1, 2)}
    stream = pipe.describe(async_gen_from_list([7]))
    assert len(seen) == 1  # describing runs nothing
    assert run_stream(lambda: stream) == [Ok(7)]
    assert seen[1:] == [7]


def test_factory_failures_are_values() -> None:
    def boom(params: Params) -> Callable[[int], AsyncPlan[int]]:
        raise RuntimeError("no client")

    def not_callable(params: Params) -> Callable[[int], AsyncPlan[int]]:
        return 42  # type: ignore[return-value]

    for factory in (boom, not_callable):
        entry = map_entry("f", "1", factory)
        spec = pipeline_spec("p", [map_op(entry)])
        res = reconstruct_pipeline(spec, Registry([entry]), allow_list={"f"})
        assert isinstance(res, Err)
        assert res.error.code == codes.RECONSTRUCT_FAIL
        assert res.error.path == ("ops", 0)


def test_builders_check_their_inputs() -> None:
    with pytest.raises(ValueError, match="is a Map"):
        batch_map_op(REGISTRY["add"], chunk=ChunkPolicy())
    with pytest.raises(ValueError, match="size_fn"):
        batch_map_op(REGISTRY["scale"], chunk=ChunkPolicy(size_fn=len))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="JSON"):
        map_op(REGISTRY["add"], params={"n": object()})
    with pytest.raises(ValueError, match="no policy named"):
        pipeline_spec("p", [map_op(REGISTRY["add"], retry="missing")])
    spec = pipeline_spec(
        "shared",
        [map_op(REGISTRY["add"], retry="r"), map_op(REGISTRY["flaky"], retry="r")],
        policies={"r": RetryPolicy(max_attempts=3)},
    )
    assert spec.ops[0].policies.retry == "r"
    assert spec.policies["r"].config["max_attempts"] == 3
