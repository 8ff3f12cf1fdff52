"""The pipeline laws of seed M08C10, shown on the lawful ingest description of the library.

source -> parse -> chunk -> batch (async_gen_chunk) -> embed with retry and timeout
(resilient_mapper inside async_gen_bounded_map) -> flatten -> upsert with retry (inside
async_gen_using, over a store connection), built over the fake ports of funcpipe.testing and
run on the virtual-time loop under drawn fault schedules and drawn interleavings.

Each law runs ``max(200, profile max_examples)`` examples (ci: 200, deep: 5,000) and then
checks that the interesting cases (retries, timeouts, hangs, exceptions, cancellations,
reorderings) happened in a meaningful share of them, so the evidence is not vacuous.
Run ``pytest tests/laws -s`` to print the shares.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from funcpipe.async_plan import AsyncPlan, async_map_err, resilient_mapper
from funcpipe.policies import (
    BackpressurePolicy,
    ChunkPolicy,
    FairnessPolicy,
    RealSleeper,
    ResilienceEnv,
    RetryPolicy,
    SystemClock,
    TimeoutPolicy,
)
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import (
    AsyncGen,
    async_gen_bounded_map,
    async_gen_chunk,
    async_gen_fair_merge,
    async_gen_flat_map,
    async_gen_flatten,
    async_gen_from_list,
    async_gen_gather,
    async_gen_map,
    async_gen_map_action,
    async_gen_using,
)
from funcpipe.testing import (
    OK,
    FakeConnection,
    FakeDocumentSource,
    FakeEmbedder,
    FakeVectorStore,
    FaultKind,
    FaultSchedule,
    LawRun,
    LawViolation,
    Outcome,
    Vector,
    assert_at_most_once_success,
    assert_composition_preserved,
    assert_idempotent,
    assert_no_duplication,
    assert_no_loss,
    assert_partial_run_safe,
    fault_schedules,
    interleaving_seeds,
    is_key_disjoint,
    pending_tasks,
    run_virtual_traced,
)
from hypothesis import event, given, settings, target
from hypothesis import strategies as st

EXAMPLES = max(200, settings().max_examples)
TIMEOUT_MS = 1_000
LATENCIES = (100, 100, 400, 1_500)  # a coarse grid (ties), and some pass the timeout
BASE = st.sampled_from([OK, Outcome("ok", 100), Outcome("ok", 250)])  # unplanned attempts

# -- the domain: lines -> documents -> chunks with stable content keys ----------------------


@dataclass(frozen=True)
class Doc:
    doc_id: str
    text: str


@dataclass(frozen=True)
class Chunk:
    id: str
    doc_id: str
    text: str


@dataclass(frozen=True)
class Embedded:
    chunk: Chunk
    vector: Vector


def line_key(line: str) -> str:
    return line.split("\t", 1)[0]


def parse_line(line: str) -> Doc:
    doc_id, _, text = line.partition("\t")
    return Doc(doc_id, text)


def chunk_doc(doc: Doc, size: int) -> list[Chunk]:
    """Fixed-size pieces; the key is a stable content hash (doc id, position, text)."""
    pieces = [doc.text[i : i + size] for i in range(0, len(doc.text), size)]
    return [
        Chunk(f"{doc.doc_id}:{i}:{hashlib.sha256(p.encode()).hexdigest()[:8]}", doc.doc_id, p)
        for i, p in enumerate(pieces)
    ]


@dataclass(frozen=True)
class Config:
    chunk_chars: int = 4
    batch_units: int = 2
    batch_delay_ms: int = 0
    concurrency: int = 2
    ordered: bool = True
    max_attempts: int = 3


def keyed(plan: AsyncPlan[Any], key: str) -> AsyncPlan[Any]:
    """Every error of ``plan`` carries the item's key as ``path[0]`` (the laws need it)."""
    return async_map_err(plan, lambda e: e if e.path[:1] == (key,) else e.with_path(key))


def lawful_ingest(
    source: AsyncGen[str],
    embedder: FakeEmbedder,
    store: FakeVectorStore,
    cfg: Config,
) -> AsyncGen[str]:
    """The lawful description: stable keys, retry on typed Err only, UPSERT, per-item errors.

    Emits ``Ok(chunk_id)`` per stored chunk and a keyed ``Err`` per failed chunk or document.
    """
    env = ResilienceEnv(rng=random.Random(0), sleep=asyncio.sleep, clock=SystemClock())
    retry = RetryPolicy(max_attempts=cfg.max_attempts, backoff_base_ms=100, max_backoff_ms=400)
    timeout = TimeoutPolicy(TIMEOUT_MS)

    parsed = async_gen_map(source, parse_line)
    chunked = async_gen_flat_map(
        parsed, lambda doc: async_gen_from_list(chunk_doc(doc, cfg.chunk_chars))
    )
    policy: ChunkPolicy[Chunk] = ChunkPolicy(
        max_units=cfg.batch_units, max_delay_ms=cfg.batch_delay_ms
    )
    batches = async_gen_chunk(chunked, policy)(RealSleeper())

    def embed_batch(batch: list[Chunk]) -> AsyncPlan[list[Vector]]:
        return embedder.embed_batch([c.text for c in batch], [c.id for c in batch])

    embed = resilient_mapper(embed_batch, retry, timeout, env)

    def embed_per_key(batch: list[Chunk]) -> AsyncPlan[list[Result[Embedded, ErrInfo]]]:
        plan = embed(batch)

        async def _run() -> Result[list[Result[Embedded, ErrInfo]], ErrInfo]:
            res = await plan()
            if isinstance(res, Ok):
                return Ok([Ok(Embedded(c, v)) for c, v in zip(batch, res.value, strict=True)])
            return Ok([Err(res.error.with_path(c.id)) for c in batch])

        return _run

    embedded = async_gen_bounded_map(
        batches,
        embed_per_key,
        BackpressurePolicy(max_concurrent=cfg.concurrency, ordered=cfg.ordered),
    )
    flat: AsyncGen[Embedded] = async_gen_flatten(embedded)

    def upsert_all(conn: FakeConnection) -> AsyncGen[str]:
        def write(e: Embedded) -> AsyncPlan[str]:
            return conn.upsert(e.chunk.id, e.vector, {"doc": e.chunk.doc_id})

        upsert = resilient_mapper(write, retry, timeout, env)
        return async_gen_map_action(flat, lambda e: keyed(upsert(e), e.chunk.id))

    return async_gen_using(store.connect, upsert_all)


# -- drawn cases ----------------------------------------------------------------------------

EMBED_KINDS: tuple[FaultKind, ...] = ("ok", "transient", "timeout", "exception", "hang")
SOURCE_KINDS: tuple[FaultKind, ...] = ("ok", "ok", "ok", "transient", "exception")
QUICK_KINDS: tuple[FaultKind, ...] = ("ok", "ok", "transient", "timeout")


@dataclass(frozen=True)
class Case:
    lines: tuple[str, ...]
    cfg: Config
    source_faults: FaultSchedule
    embed_faults: FaultSchedule
    store_faults: FaultSchedule
    seed: int

    def chunk_ids(self) -> list[str]:
        return [
            c.id for line in self.lines for c in chunk_doc(parse_line(line), self.cfg.chunk_chars)
        ]

    def expected_keys(self) -> set[str]:
        """Every key a full run must emit: the doc if its read fails, else its chunks."""
        keys: set[str] = set()
        for line in self.lines:
            if self.source_faults.outcome(line_key(line), 1).kind == "ok":
                keys.update(c.id for c in chunk_doc(parse_line(line), self.cfg.chunk_chars))
            else:
                keys.add(line_key(line))
        return keys


configs = st.builds(
    Config,
    chunk_chars=st.integers(3, 8),
    batch_units=st.integers(1, 4),
    batch_delay_ms=st.sampled_from([0, 0, 50, 300]),
    concurrency=st.integers(1, 3),
    ordered=st.booleans(),
    max_attempts=st.integers(1, 4),
)
tie_heavy_configs = st.builds(
    Config,
    chunk_chars=st.integers(3, 5),
    batch_units=st.integers(1, 2),
    batch_delay_ms=st.just(0),
    concurrency=st.integers(2, 4),
    ordered=st.just(False),
    max_attempts=st.integers(2, 4),
)


TEXTS = st.text("abcxyz ", max_size=16)
LONG_TEXTS = st.text("abcxyz ", min_size=6, max_size=16)


@st.composite
def cases(
    draw: st.DrawFn,
    *,
    prefix: str = "d",
    min_docs: int = 1,
    max_docs: int = 5,
    tie_heavy: bool = False,
) -> Case:
    """A corpus, a config, fault schedules for the three ports, and an interleaving seed.

    ``tie_heavy``: concurrent, unordered, quick faults only, every call 100 ms: many calls end
    at the same virtual instant, where only the interleaving decides what happens first.
    """
    texts = draw(st.lists(LONG_TEXTS if tie_heavy else TEXTS, min_size=min_docs, max_size=max_docs))
    lines = tuple(f"{prefix}{i}\t{t}" for i, t in enumerate(texts))
    cfg = draw(tie_heavy_configs if tie_heavy else configs)
    chunk_ids = [c.id for line in lines for c in chunk_doc(parse_line(line), cfg.chunk_chars)]
    source_faults = draw(
        fault_schedules(
            [line_key(x) for x in lines], max_attempts=1, kinds=SOURCE_KINDS, latencies=(100,)
        )
    )
    kinds = QUICK_KINDS if tie_heavy else EMBED_KINDS
    latencies = (100,) if tie_heavy else LATENCIES
    base = st.just(Outcome("ok", 100)) if tie_heavy else BASE
    embed_faults = draw(
        fault_schedules(chunk_ids, max_attempts=4, kinds=kinds, latencies=latencies, default=base)
    )
    store_faults = draw(
        fault_schedules(chunk_ids, max_attempts=4, kinds=kinds, latencies=latencies)
    )
    seed = draw(interleaving_seeds())
    return Case(lines, cfg, source_faults, embed_faults, store_faults, seed)


@dataclass
class World:
    """The fake ports of one case."""

    case: Case
    source: FakeDocumentSource[str] = field(init=False)
    embedder: FakeEmbedder = field(init=False)
    store: FakeVectorStore = field(init=False)

    def __post_init__(self) -> None:
        c = self.case
        self.source = FakeDocumentSource(c.lines, key=line_key, schedule=c.source_faults)
        self.embedder = FakeEmbedder(c.embed_faults)
        self.store = FakeVectorStore(c.store_faults)

    def pipeline(self) -> AsyncGen[str]:
        return lawful_ingest(self.source, self.embedder, self.store, self.case.cfg)

    def reset_schedules(self) -> None:
        for port in (self.source, self.embedder, self.store):
            port.reset_schedule()

    def attempts(self) -> list[tuple[Hashable, str]]:
        return [
            (f"{r.port}/{r.key}", r.outcome.kind)
            for port in (self.source, self.embedder, self.store)
            for r in port.log
        ]

    def law_run(self, results: Sequence[Result[str, ErrInfo]]) -> LawRun:
        return LawRun.of(results, state=self.store.snapshot(), attempts=self.attempts())

    def open_resources(self) -> dict[str, int]:
        return {
            "store connections": self.store.open_connections,
            "source iterations": self.source.open_iterations,
            "embed calls in flight": self.embedder.in_flight,
            "store calls in flight": self.store.in_flight,
        }


async def collect(gen: AsyncGen[str]) -> list[Result[str, ErrInfo]]:
    out: list[Result[str, ErrInfo]] = []
    it = gen()
    try:
        async for item in it:
            out.append(item)
    finally:
        await it.aclose()  # type: ignore[attr-defined]
    return out


def run(gen: AsyncGen[str], seed: int | None) -> tuple[list[Result[str, ErrInfo]], int]:
    """Drive ``gen`` to its end on the virtual loop; the results and the loop's reorders."""
    traced = run_virtual_traced(lambda: collect(gen), seed=seed)
    return traced.result, traced.reorders


# -- evidence that the examples exercised what they claim ----------------------------------


class Tally:
    """Counts, per law, the examples in which each interesting case happened."""

    def __init__(self, law: str) -> None:
        self.law = law
        self.examples = 0
        self.seen: Counter[str] = Counter()

    def example(self, features: set[str]) -> None:
        self.examples += 1
        for f in sorted(features):
            event(f)
            self.seen[f] += 1
        target(float(len(features)), label="interesting cases in one example")

    def share(self, feature: str) -> float:
        return self.seen[feature] / max(1, self.examples)

    def report(self) -> str:
        shares = ", ".join(f"{f} {self.share(f):.0%}" for f in sorted(self.seen))
        return f"LAWS {self.law}: {self.examples} examples; {shares}"

    def require(self, minimum: dict[str, float]) -> None:
        print(self.report())
        assert self.examples >= min(200, EXAMPLES), self.report()
        short = {
            f: f"{self.share(f):.1%} < {m:.0%}" for f, m in minimum.items() if self.share(f) < m
        }
        assert not short, f"vacuous evidence: {short}\n{self.report()}"


def fault_features(world: World, results: Sequence[Result[str, ErrInfo]]) -> set[str]:
    found: set[str] = set()
    for port in (world.embedder, world.store):
        if any(n > 1 for n in port.attempts.values()):
            found.add("retry")
        for r in port.log:
            if r.outcome.kind != "ok":
                found.add(r.outcome.kind)
            if r.outcome.latency_ms:
                found.add("latency")
            if r.ended == "cancelled":
                found.add("timeout fired")
    codes_seen = {r.error.code for r in results if isinstance(r, Err)}
    if codes.MAX_RETRIES in codes_seen:
        found.add("retries exhausted")
    if any(r.error.stage == "source" for r in results if isinstance(r, Err)):
        found.add("source error")
    if any(isinstance(r, Ok) for r in results):
        found.add("some ok")
    return found


# -- law: idempotence ----------------------------------------------------------------------


def test_idempotence() -> None:
    """Same schedule, same state, same interleaving: same final state, no extra attempts or
    emissions; re-running on top of the result changes nothing (UPSERT by stable key)."""
    tally = Tally("idempotence")

    @settings(max_examples=EXAMPLES)
    @given(case=cases())
    def prop(case: Case) -> None:
        world = World(case)
        first, reorders = run(world.pipeline(), case.seed)
        run1 = world.law_run(first)

        world.store.reset()  # the same (empty) state, the same schedule
        world.reset_schedules()
        second, _ = run(world.pipeline(), case.seed)
        assert_idempotent(run1, world.law_run(second))
        assert second == first  # the replay is exact, item for item

        world.reset_schedules()  # on top of the state the runs left
        third, _ = run(world.pipeline(), case.seed)
        assert_idempotent(run1, world.law_run(third))

        tally.example(fault_features(world, first) | ({"reordered"} if reorders else set()))

    prop()
    tally.require(
        {
            "retry": 0.25,
            "transient": 0.07,
            "hang": 0.15,
            "exception": 0.2,
            "timeout fired": 0.2,
            "latency": 0.25,
            "reordered": 0.2,
            "some ok": 0.2,
        }
    )


# -- laws: at-most-once success, no duplication, no loss -----------------------------------


def test_at_most_once_success_and_no_duplication() -> None:
    """Every key emits at most one Ok and at most one item at all per run, and every key is
    emitted (nothing lost), under any drawn interleaving and in asyncio's FIFO order."""
    tally = Tally("at-most-once / no duplication")

    @settings(max_examples=EXAMPLES)
    @given(case=cases(max_docs=6))
    def prop(case: Case) -> None:
        world = World(case)
        results, reorders = run(world.pipeline(), case.seed)
        assert_at_most_once_success(results)
        assert_no_duplication(results)
        assert_no_loss(results, case.expected_keys())
        assert set(world.store.snapshot()) >= {r.value for r in results if isinstance(r, Ok)}
        assert world.open_resources() == dict.fromkeys(world.open_resources(), 0)
        features = fault_features(world, results)
        calls = (list(world.embedder.calls), [r.key for r in world.store.log])

        world.store.reset()
        world.reset_schedules()
        fifo, _ = run(world.pipeline(), None)
        assert_no_duplication(fifo)
        assert_no_loss(fifo, case.expected_keys())

        if reorders:
            features.add("reordered")
        if results != fifo or calls != (world.embedder.calls, [r.key for r in world.store.log]):
            features.add("calls or emissions reordered vs FIFO")
        tally.example(features)

    prop()
    tally.require(
        {
            "retry": 0.25,
            "hang": 0.15,
            "exception": 0.2,
            "timeout fired": 0.2,
            "retries exhausted": 0.1,
            "source error": 0.1,
            "reordered": 0.25,
            "calls or emissions reordered vs FIFO": 0.02,
        }
    )


def test_no_duplication_across_interleavings() -> None:
    """The same schedule under three interleavings: each run satisfies the laws, even where the
    interleaving changes the order of emissions (tie-heavy cases: concurrent calls that end at
    the same virtual instant)."""
    tally = Tally("no duplication across interleavings")

    @settings(max_examples=EXAMPLES)
    @given(case=cases(max_docs=4, min_docs=2, tie_heavy=True))
    def prop(case: Case) -> None:
        orders = set()
        for seed in (case.seed, (case.seed + 1) % 2**32, (case.seed + 2) % 2**32):
            world = World(case)
            results, _ = run(world.pipeline(), seed)
            assert_at_most_once_success(results)
            assert_no_duplication(results)
            assert_no_loss(results, case.expected_keys())
            orders.add(tuple(map(repr, results)))
        features = fault_features(world, results)
        if len(orders) > 1:
            features.add("emission order differs between interleavings")
        tally.example(features)

    prop()
    tally.require({"emission order differs between interleavings": 0.2, "retry": 0.4})


# -- law: partial-run safety ---------------------------------------------------------------


@dataclass(frozen=True)
class Stop:
    after_items: int | None  # break after this many items, or
    deadline_ms: int  # cancel the consumer at this virtual time (when after_items is None)


stops = st.one_of(
    st.builds(Stop, after_items=st.integers(1, 6), deadline_ms=st.just(0)),
    st.builds(Stop, after_items=st.none(), deadline_ms=st.integers(50, 1_500)),
)


async def consume_partially(
    world: World, stop: Stop
) -> tuple[list[Result[str, ErrInfo]], bool, bool, dict[str, int], list[asyncio.Task[Any]]]:
    """Consume a prefix, then close; returns what was consumed, whether the run was cut short,
    whether port calls were in flight at the stop, and what was left open or running after
    the close."""
    consumed: list[Result[str, ErrInfo]] = []
    it: AsyncIterator[Result[str, ErrInfo]] = world.pipeline()()
    cut = False
    try:
        if stop.after_items is not None:
            cut = True
            while len(consumed) < stop.after_items:
                try:
                    consumed.append(await anext(it))
                except StopAsyncIteration:
                    cut = False
                    break
        else:
            try:
                async with asyncio.timeout(stop.deadline_ms / 1000):
                    async for item in it:
                        consumed.append(item)
            except TimeoutError:
                cut = True
    finally:
        stopped_at = asyncio.get_running_loop().time()
        await it.aclose()  # type: ignore[attr-defined]
    busy = any(  # a call cancelled by the stop itself (a timeout policy needs TIMEOUT_MS)
        r.ended == "cancelled" and r.ended_at == stopped_at and r.ended_at - r.started_at < 1
        for port in (world.embedder, world.store, world.source)
        for r in port.log
    )
    return consumed, cut, busy, world.open_resources(), pending_tasks()


def test_partial_run_safety() -> None:
    """Stopping after a drawn prefix (a break, or a cancellation at a drawn virtual time) and
    closing leaves no open connection, no running task, and a store holding exactly the
    consumed prefix (plus, after a cancellation, at most the one write that was under way)."""
    tally = Tally("partial-run safety")

    @settings(max_examples=EXAMPLES)
    @given(case=cases(max_docs=6), stop=stops)
    def prop(case: Case, stop: Stop) -> None:
        world = World(case)
        traced = run_virtual_traced(lambda: consume_partially(world, stop), seed=case.seed)
        consumed, cut, busy, open_after, running = traced.result
        assert_partial_run_safe(
            consumed,
            world.store.snapshot(),
            open_resources=open_after,
            running_tasks=running,
            in_flight=0 if stop.after_items is not None else 1,
        )
        assert_no_duplication(consumed)
        features = fault_features(world, consumed)
        if cut:
            features.add("cut by break" if stop.after_items is not None else "cut by cancel")
        if busy:
            features.add("calls in flight at the stop")
        if traced.reorders:
            features.add("reordered")
        tally.example(features)

    prop()
    tally.require(
        {
            "calls in flight at the stop": 0.08,
            "cut by break": 0.25,
            "cut by cancel": 0.03,
            "retry": 0.15,
            "hang": 0.15,
            "reordered": 0.25,
        }
    )


# -- law: composition preservation ---------------------------------------------------------


@dataclass(frozen=True)
class Parts:
    cases: tuple[Case, ...]
    seed: int


@st.composite
def parts(draw: st.DrawFn) -> Parts:
    n = draw(st.integers(2, 3))
    cfg = draw(configs.map(lambda c: Config(**{**c.__dict__, "batch_delay_ms": 0})))
    drawn = []
    for i in range(n):
        c = draw(cases(prefix=f"p{i}d", max_docs=3))
        drawn.append(Case(c.lines, cfg, c.source_faults, c.embed_faults, c.store_faults, 0))
    return Parts(tuple(drawn), draw(interleaving_seeds()))


def merged_world(p: Parts) -> tuple[list[World], FakeEmbedder, FakeVectorStore]:
    """One world per part, sharing one embedder and one store (the keys are disjoint)."""
    schedule = FaultSchedule(
        {k: v for c in p.cases for s in (c.embed_faults,) for k, v in s.outcomes.items()}
    )
    store_schedule = FaultSchedule(
        {k: v for c in p.cases for k, v in c.store_faults.outcomes.items()}
    )
    embedder, store = FakeEmbedder(schedule), FakeVectorStore(store_schedule)
    worlds = []
    for c in p.cases:
        w = World(c)
        w.embedder, w.store = embedder, store
        worlds.append(w)
    return worlds, embedder, store


MERGES: dict[str, Callable[[Sequence[AsyncGen[str]]], AsyncGen[str]]] = {
    "gather": lambda gens: async_gen_gather(gens, max_buffer=2),
    "fair_merge": lambda gens: async_gen_fair_merge(
        gens, FairnessPolicy(weights={0: 2}, max_buffer_per_stream=2)
    ),
}


def test_composition_preservation() -> None:
    """Merging lawful, key-disjoint pipelines with gather and with fair merge keeps the laws:
    the merge emits exactly the union of the parts' emissions, each key once, and leaves the
    same store state; ``is_key_disjoint`` holds for them and catches a merge that overlaps."""
    tally = Tally("composition preservation")

    @settings(max_examples=EXAMPLES)
    @given(p=parts())
    def prop(p: Parts) -> None:
        worlds, _, store = merged_world(p)
        alone = [run(w.pipeline(), p.seed)[0] for w in worlds]
        state_alone = store.snapshot()
        features = fault_features(worlds[0], [r for part in alone for r in part])

        for name, merge in MERGES.items():
            store.reset()
            for w in worlds:
                w.reset_schedules()
            merged, reorders = run(merge([w.pipeline() for w in worlds]), p.seed)
            assert_composition_preserved(alone, merged)
            assert store.snapshot() == state_alone
            assert store.open_connections == 0
            if merged != [r for part in alone for r in part]:
                features.add(f"parts interleaved by {name}")
            if reorders:
                features.add("reordered")

        store.reset()
        for w in worlds:
            w.reset_schedules()
        gens = [w.pipeline() for w in worlds]
        assert run_virtual_traced(lambda: is_key_disjoint(*gens), seed=p.seed).result

        # the same part twice is not key-disjoint: the check says so, the merge duplicates
        if alone[0]:
            twins = [World(p.cases[0]), World(p.cases[0])]
            twice = [w.pipeline() for w in twins]
            assert not run_virtual_traced(lambda: is_key_disjoint(*twice)).result
            twins = [World(p.cases[0]), World(p.cases[0])]
            dup, _ = run(MERGES["gather"]([w.pipeline() for w in twins]), p.seed)
            with pytest.raises(LawViolation):
                assert_no_duplication(dup)
            features.add("overlap caught")
        tally.example(features)

    prop()
    tally.require(
        {
            "overlap caught": 0.5,
            "parts interleaved by gather": 0.3,
            "parts interleaved by fair_merge": 0.3,
            "retry": 0.2,
            "hang": 0.15,
            "reordered": 0.5,
        }
    )
