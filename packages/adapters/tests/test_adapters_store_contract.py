"""One VectorStore contract suite, run against every backend:

- ``edge``: EdgeStore (Qdrant Edge in-process), created with HNSW thresholds so small that
  ``optimize()`` really builds an HNSW index for these small test sets;
- ``memory`` / ``path``: QdrantStore on qdrant-client local mode (``:memory:`` / on disk);
- ``server``: QdrantStore on a Qdrant server at ``QDRANT_URL`` (marker ``qdrant_server``;
  skipped when the variable is not set);
- ``fake``: funcpipe.testing's FakeVectorStore (exact search, nothing persisted), so the fake
  obeys the same port (``funcpipe.ports.VectorStore``) as the real backends.

What "query correctness" asserts: with ``exact=True`` every backend returns exactly the
brute-force top-k (same ids, same order, scores within 1e-4). Without ``exact``, local mode is
brute force anyway (same assertion); Edge (after ``optimize``, HNSW in use, checked by its
indexed-vector count) and the server are approximate, so we assert that a stored vector finds
itself first and that mean recall@10 against brute force is at least 0.9 (16-d random vectors,
300 points: HNSW is near-exact here; the bound leaves room for approximation).
"""

from __future__ import annotations

import math
import os
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from funcpipe.adapters.edge import EdgeStore
from funcpipe.adapters.qdrant import QdrantStore
from funcpipe.adapters.runtime import collect_stream, perform_async
from funcpipe.adapters.vectors import Filter, Point, Record, VectorStore
from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, Ok, codes
from funcpipe.testing import FakeVectorStore

QDRANT_URL = os.environ.get("QDRANT_URL")
DIM = 16
BATCH = 16  # small batches so every upsert below is split


@dataclass
class Kit:
    """Opens (and re-opens) one backend; ``collection`` is unique per test."""

    name: str
    open: Callable[[], Awaitable[VectorStore]]
    collection: str
    persistent: bool
    exact_default: bool
    opened: list[VectorStore] = field(default_factory=list)

    async def store(self) -> VectorStore:
        s = await self.open()
        self.opened.append(s)
        return s


def _params() -> list[object]:
    server = pytest.param(
        "server",
        marks=[
            pytest.mark.qdrant_server,
            pytest.mark.skipif(
                QDRANT_URL is None, reason="set QDRANT_URL to run the suite against a Qdrant server"
            ),
        ],
    )
    return ["edge", "memory", "path", server, "fake"]


@pytest_asyncio.fixture(params=_params())
async def kit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Kit]:
    name: str = request.param
    collection = f"fp_test_{uuid.uuid4().hex[:12]}"

    async def open_edge() -> VectorStore:
        return EdgeStore(
            tmp_path / "edge",
            full_scan_threshold_kb=1,
            indexing_threshold_kb=1,
            max_batch_points=BATCH,
        )

    async def open_qdrant(
        url: str | None = None, location: str | None = None, path: str | None = None
    ) -> VectorStore:
        plan = QdrantStore.connect(url, location=location, path=path)
        store = (await perform_async(plan)).unwrap()
        store._max_points = BATCH
        return store

    fake = FakeVectorStore()

    async def open_fake() -> VectorStore:
        return fake

    openers: dict[str, Callable[[], Awaitable[VectorStore]]] = {
        "fake": open_fake,
        "edge": open_edge,
        "memory": lambda: open_qdrant(location=":memory:"),
        "path": lambda: open_qdrant(path=str(tmp_path / "local")),
        "server": lambda: open_qdrant(url=QDRANT_URL or ""),
    }
    k = Kit(
        name,
        openers[name],
        collection,
        persistent=name in ("edge", "path", "server"),
        exact_default=name in ("memory", "path", "fake"),
    )
    yield k
    if name == "server":
        s = await k.store()
        assert isinstance(s, QdrantStore)
        await s._client.delete_collection(collection)
    for s in k.opened:
        await perform_async(s.close())


def _rand_points(n: int, seed: int = 0, docs: int = 5) -> list[Point]:
    rng = random.Random(seed)
    return [
        Point(
            str(uuid.UUID(int=rng.getrandbits(128))),
            [rng.gauss(0, 1) for _ in range(DIM)],
            {"doc": f"d{i % docs}", "n": i, "tags": ["even" if i % 2 == 0 else "odd", "all"]},
        )
        for i in range(n)
    ]


async def _state(
    store: VectorStore, c: str, flt: Filter | None = None
) -> dict[str, dict[str, object]]:
    items = await collect_stream(store.scroll(c, flt, page_size=7))
    out: dict[str, dict[str, object]] = {}
    for r in items:
        assert isinstance(r, Ok), r
        assert r.value.id not in out, "scroll yielded a point twice"
        out[r.value.id] = dict(r.value.payload)
    return out


async def _ready(kit: Kit, points: list[Point]) -> VectorStore:
    store = await kit.store()
    ok = await perform_async(
        store.ensure_collection(kit.collection, DIM, "cosine", {"doc": "keyword", "n": "integer"})
    )
    assert ok == Ok(None)
    assert await perform_async(store.upsert(kit.collection, points)) == Ok(len(points))
    return store


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


def _brute(
    points: list[Point], q: list[float], k: int, flt: Filter | None
) -> list[tuple[str, float]]:
    scored = [
        (p.id, _cos(list(p.vector), q)) for p in points if flt is None or flt.matches(p.payload)
    ]
    scored.sort(key=lambda t: -t[1])
    return scored[:k]


@pytest.mark.asyncio
async def test_upsert_is_idempotent_by_id(kit: Kit) -> None:
    pts = _rand_points(40)
    store = await _ready(kit, pts)
    first = await _state(store, kit.collection)
    assert len(first) == 40
    assert set(first) == {p.id for p in pts}
    # same points again (ids in upper case: the same ids) -> the same state
    again = [Point(p.id.upper(), p.vector, p.payload) for p in pts]
    assert await perform_async(store.upsert(kit.collection, again)) == Ok(40)
    assert await _state(store, kit.collection) == first
    assert await perform_async(store.count(kit.collection)) == Ok(40)
    # ensure_collection again is a no-op
    assert await perform_async(store.ensure_collection(kit.collection, DIM)) == Ok(None)
    assert await perform_async(store.count(kit.collection)) == Ok(40)
    # an upsert with a known id replaces that point
    changed = Point(pts[0].id, pts[0].vector, {"doc": "new"})
    assert await perform_async(store.upsert(kit.collection, [changed])) == Ok(1)
    state = await _state(store, kit.collection)
    assert state[pts[0].id] == {"doc": "new"}
    assert len(state) == 40


@pytest.mark.asyncio
async def test_delete_by_filter_and_ids(kit: Kit) -> None:
    pts = _rand_points(50)
    store = await _ready(kit, pts)
    c = kit.collection
    flt = Filter(must={"doc": "d1"})
    assert await perform_async(store.count(c, flt)) == Ok(10)
    assert await perform_async(store.delete_by_filter(c, flt)) == Ok(None)
    assert await perform_async(store.count(c, flt)) == Ok(0)
    assert await perform_async(store.count(c)) == Ok(40)
    # any-of and must_not, and array fields
    two = Filter(must={"doc": ["d2", "d3"]}, must_not={"tags": "odd"})
    expected = {p.id for p in pts if p.payload["doc"] != "d1" and two.matches(p.payload)}
    assert set(await _state(store, c, two)) == expected
    assert await perform_async(store.delete_by_filter(c, two)) == Ok(None)
    left = {p.id for p in pts if p.payload["doc"] != "d1" and not two.matches(p.payload)}
    assert set(await _state(store, c)) == left
    victims = sorted(left)[:3]
    assert await perform_async(store.delete_ids(c, [*victims, str(uuid.uuid4())])) == Ok(None)
    assert set(await _state(store, c)) == left - set(victims)
    refused = await perform_async(store.delete_by_filter(c, Filter()))
    assert isinstance(refused, Err)
    assert refused.error.code == codes.INVALID_INPUT
    assert await perform_async(store.count(c)) == Ok(len(left) - 3)


@pytest.mark.asyncio
async def test_query_matches_brute_force(kit: Kit) -> None:
    pts = _rand_points(300, seed=1)
    store = await _ready(kit, pts)
    c = kit.collection
    assert isinstance(await perform_async(store.optimize(c)), Ok)
    if isinstance(store, EdgeStore):
        indexed, total = (await perform_async(store.indexed_vectors(c))).unwrap()
        assert total == 300
        assert indexed == 300  # HNSW built: queries do not scan
    rng = random.Random(7)
    queries = [[rng.gauss(0, 1) for _ in range(DIM)] for _ in range(15)]
    filters: list[Filter | None] = [
        None,
        Filter(must={"doc": "d2"}),
        Filter(must_not={"tags": "odd"}),
    ]
    recalls: list[float] = []
    for i, q in enumerate(queries):
        flt = filters[i % len(filters)]
        truth = _brute(pts, q, 10, flt)
        exact = (await perform_async(store.query(c, q, filter=flt, limit=10, exact=True))).unwrap()
        assert [h.id for h in exact] == [t[0] for t in truth]
        assert all(abs(h.score - t[1]) < 1e-4 for h, t in zip(exact, truth, strict=True))
        assert all(flt is None or flt.matches(h.payload) for h in exact)
        approx = (await perform_async(store.query(c, q, filter=flt, limit=10))).unwrap()
        assert len(approx) == 10
        assert [h.score for h in approx] == sorted((h.score for h in approx), reverse=True)
        if kit.exact_default:
            assert [h.id for h in approx] == [t[0] for t in truth]
        recalls.append(len({h.id for h in approx} & {t[0] for t in truth}) / 10)
    assert sum(recalls) / len(recalls) >= 0.9
    for p in pts[:20]:  # a stored vector finds itself first
        top = (await perform_async(store.query(c, list(p.vector), limit=1))).unwrap()
        assert top[0].id == p.id
        assert top[0].score == pytest.approx(1.0, abs=1e-4)
        assert top[0].payload == p.payload


@pytest.mark.asyncio
async def test_scroll_is_complete(kit: Kit) -> None:
    pts = _rand_points(123, seed=2)
    store = await _ready(kit, pts)
    c = kit.collection
    state = await _state(store, c)
    assert state == {p.id: dict(p.payload) for p in pts}
    flt = Filter(must={"doc": ["d0", "d4"]})
    assert set(await _state(store, c, flt)) == {p.id for p in pts if flt.matches(p.payload)}
    bare = await collect_stream(store.scroll(c, with_payload=False, page_size=50))
    assert [r.value.payload for r in bare if isinstance(r, Ok)] == [{}] * 123
    assert all(isinstance(r, Ok) and isinstance(r.value, Record) for r in bare)
    one_page = await collect_stream(store.scroll(c, flt, page_size=1000))
    assert len(one_page) == len(set(await _state(store, c, flt)))


def _unit(v: list[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


@pytest.mark.asyncio
async def test_retrieve_reads_points_back_with_vectors(kit: Kit) -> None:
    pts = _rand_points(30, seed=4)
    store = await _ready(kit, pts)
    c = kit.collection
    unknown = str(uuid.uuid4())
    # asked order kept, a duplicate (in another case) given once, an unknown id left out
    asked = [pts[7].id, unknown, pts[2].id.upper(), pts[7].id, pts[29].id]
    got = (await perform_async(store.retrieve(c, asked))).unwrap()
    assert [r.id for r in got] == [pts[7].id, pts[2].id, pts[29].id]
    by_id = {p.id: p for p in pts}
    for r in got:
        assert r.payload == by_id[r.id].payload
        assert r.vector is not None
        # cosine collections store unit vectors: the stored vector is the normalised input
        want = _unit(list(by_id[r.id].vector))
        assert len(r.vector) == DIM
        assert all(abs(a - b) < 1e-5 for a, b in zip(r.vector, want, strict=True))
    bare = (
        await perform_async(store.retrieve(c, [pts[0].id], with_payload=False, with_vectors=False))
    ).unwrap()
    assert bare == [Record(pts[0].id, {}, None)]
    only_vec = (await perform_async(store.retrieve(c, [pts[1].id], with_payload=False))).unwrap()
    assert only_vec[0].payload == {}
    assert only_vec[0].vector is not None
    assert (await perform_async(store.retrieve(c, [unknown]))).unwrap() == []
    assert (await perform_async(store.retrieve(c, []))).unwrap() == []
    # a point written with a vector read back keeps that vector (payload rewrites rely on it)
    moved = Point(pts[3].id, got[0].vector or [], {"doc": "moved"})
    assert await perform_async(store.upsert(c, [moved])) == Ok(1)
    again = (await perform_async(store.retrieve(c, [pts[3].id]))).unwrap()
    assert again[0].payload == {"doc": "moved"}
    assert again[0].vector is not None
    assert all(abs(a - b) < 1e-5 for a, b in zip(again[0].vector, got[0].vector or [], strict=True))
    bad = await perform_async(store.retrieve(c, [pts[0].id, "not-a-uuid"]))
    assert isinstance(bad, Err)
    assert bad.error.code == codes.INVALID_INPUT
    assert bad.error.ctx["index"] == 1
    missing = await perform_async(store.retrieve("fp_missing_" + uuid.uuid4().hex[:8], [unknown]))
    assert isinstance(missing, Err)
    assert missing.error.code == codes.NOT_FOUND
    empty_missing = await perform_async(store.retrieve("fp_missing_" + uuid.uuid4().hex[:8], []))
    assert isinstance(empty_missing, Err)
    assert empty_missing.error.code == codes.NOT_FOUND


@pytest.mark.asyncio
async def test_bad_input_gives_typed_errors(kit: Kit) -> None:
    store = await _ready(kit, _rand_points(5))
    c = kit.collection

    async def code_of(plan: AsyncPlan[Any]) -> str:
        res = await perform_async(plan)
        assert isinstance(res, Err), res
        return res.error.code

    short = Point(str(uuid.uuid4()), [0.1] * (DIM - 1), {})
    assert await code_of(store.upsert(c, [short])) == codes.DIMENSION_MISMATCH
    assert await code_of(store.query(c, [0.1] * (DIM + 3))) == codes.DIMENSION_MISMATCH
    assert await code_of(store.ensure_collection(c, DIM * 2)) == codes.DIMENSION_MISMATCH
    assert await code_of(store.ensure_collection(c, DIM, "dot")) == codes.INVALID_INPUT
    assert await code_of(store.upsert(c, [Point("not-a-uuid", [0.0] * DIM)])) == codes.INVALID_INPUT
    nan = Point(str(uuid.uuid4()), [math.nan] * DIM)
    assert await code_of(store.upsert(c, [nan])) == codes.INVALID_INPUT
    weird = Point(str(uuid.uuid4()), [1.0] * DIM, {"x": object()})
    assert await code_of(store.upsert(c, [weird])) == codes.INVALID_INPUT
    assert await code_of(store.query(c, [1.0] * DIM, limit=0)) == codes.INVALID_INPUT
    assert await code_of(store.count("fp_missing_" + uuid.uuid4().hex[:8])) == codes.NOT_FOUND
    assert await code_of(store.count("bad/name")) == codes.INVALID_INPUT
    assert await perform_async(store.count(c)) == Ok(5)  # nothing bad was written


@pytest.mark.asyncio
async def test_persistence_across_close_and_reopen(kit: Kit) -> None:
    if not kit.persistent:
        pytest.skip(f"{kit.name} keeps nothing after close")
    pts = _rand_points(60, seed=3)
    store = await _ready(kit, pts)
    c = kit.collection
    await perform_async(store.optimize(c))
    before = await _state(store, c)
    assert await perform_async(store.close()) == Ok(None)
    reopened = await kit.store()
    # no ensure_collection: the collection, its dimension and data come back from disk
    assert await _state(reopened, c) == before
    hit = (await perform_async(reopened.query(c, list(pts[5].vector), limit=1))).unwrap()
    assert hit[0].id == pts[5].id
    bad = await perform_async(reopened.upsert(c, [Point(str(uuid.uuid4()), [0.0] * 3)]))
    assert isinstance(bad, Err)
    assert bad.error.code == codes.DIMENSION_MISMATCH
    assert await perform_async(reopened.ensure_collection(c, DIM)) == Ok(None)
    assert await perform_async(reopened.count(c)) == Ok(60)


@pytest.mark.asyncio
async def test_unreachable_server_is_network_error() -> None:
    store = (
        await perform_async(QdrantStore.connect(url="http://127.0.0.1:9", timeout_s=2))
    ).unwrap()
    try:
        res = await perform_async(store.count("anything"))
        assert isinstance(res, Err)
        assert res.error.code in (codes.NETWORK, codes.TIMEOUT)
    finally:
        await perform_async(store.close())


@pytest.mark.asyncio
async def test_closed_edge_store_and_locked_path(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path)
    assert await perform_async(store.ensure_collection("c", 4)) == Ok(None)
    assert await perform_async(store.close()) == Ok(None)
    assert await perform_async(store.close()) == Ok(None)  # idempotent
    res = await perform_async(store.count("c"))
    assert isinstance(res, Err)
    assert res.error.code == codes.DB_ERROR
    first = (await perform_async(QdrantStore.connect(path=str(tmp_path / "q")))).unwrap()
    try:
        second = await perform_async(QdrantStore.connect(path=str(tmp_path / "q")))
        assert isinstance(second, Err)
        assert second.error.code == codes.STORE_LOCKED  # the lock is a code, never message text
    finally:
        await perform_async(first.close())


# ---- sparse vectors, hybrid search (RRF), filters and the per-group cap ----------------------

_WORDS = [
    a + b + "x"
    for a in ("ka", "lo", "mi", "nu", "po", "ri", "su", "te")
    for b in ("ba", "de", "fi", "go", "hu", "jo")
]
"""48 made-up words (no stopwords, no shared stems): BM25 ties between points are rare."""


def _sparse_points(n: int, seed: int) -> tuple[list[Point], Any]:
    import qdrant_edge as qe
    from funcpipe.adapters.vectors import SparseVector

    bm = qe.Bm25()
    rng = random.Random(seed)
    pts: list[Point] = []
    for i in range(n):
        text = " ".join(rng.choice(_WORDS) for _ in range(3 + i))  # distinct lengths: no ties
        v = bm.embed_document(text)
        sparse = {"bm25": SparseVector.of(v.indices, v.values)} if i % 7 else {}
        pts.append(
            Point(
                str(uuid.UUID(int=rng.getrandbits(128))),
                [rng.gauss(0, 1) for _ in range(DIM)],
                {"doc": f"d{i % 6}", "n": i},
                sparse,
            )
        )
    return pts, bm


@pytest.mark.asyncio
async def test_search_matches_the_reference_on_every_backend(kit: Kit) -> None:
    """Dense, sparse (BM25 + IDF) and fused (weighted RRF, several k) searches, with and without
    a filter and a per-group cap, give the reference's hits (funcpipe.ports' meaning computed
    exactly by the fake): the same scores in order, the same id wherever a score is unique."""
    from funcpipe.adapters.vectors import Nearest, Rrf, SearchQuery, SparseVector

    store = await kit.store()
    c = kit.collection
    ref = FakeVectorStore()
    pts, bm = _sparse_points(120, seed=3)
    for s in (store, ref):
        assert isinstance(
            await s.ensure_collection(c, DIM, "cosine", {"doc": "keyword"}, ["bm25"])(), Ok
        )
        assert (await s.upsert(c, pts)()).unwrap() == len(pts)
    rng = random.Random(5)
    checked = 0
    for trial in range(24):
        words = " ".join(rng.sample(_WORDS, rng.randint(1, 3)))
        qv = bm.embed_query(words)
        sparse = Nearest(SparseVector.of(qv.indices, qv.values), "bm25", limit=rng.randint(5, 30))
        dense = Nearest([rng.gauss(0, 1) for _ in range(DIM)], limit=rng.randint(5, 30))
        lists = [(dense,), (sparse,), (dense, sparse)][trial % 3]
        weights = None if trial % 2 else tuple(rng.choice([0.5, 1.0, 3.0]) for _ in lists)
        q = SearchQuery(
            lists,
            Rrf(k=rng.choice([1, 2, 60]), weights=weights),
            filter=Filter(must_not={"doc": "d1"}) if trial % 4 == 1 else None,
            limit=rng.randint(1, 12),
            group_by="doc" if trial % 5 < 2 else None,
            group_size=rng.randint(1, 3),
        )
        got = (await store.search(c, q)()).unwrap()
        want = (await ref.search(c, q)()).unwrap()
        assert [round(h.score, 4) for h in got] == pytest.approx(
            [round(h.score, 4) for h in want], abs=2e-4
        ), q
        scores = [round(h.score, 4) for h in want]
        for g, w in zip(got, want, strict=True):
            # a tie at the cut may be broken by a point left out: only ids above it count
            if scores.count(round(w.score, 4)) == 1 and round(w.score, 4) != scores[-1]:
                assert g.id == w.id, q
                checked += 1
        if q.group_by:
            counts: dict[object, int] = {}
            for h in got:
                counts[h.payload.get("doc")] = counts.get(h.payload.get("doc"), 0) + 1
            assert max(counts.values(), default=0) <= q.group_size
        if q.filter is not None:
            assert all(h.payload.get("doc") != "d1" for h in got)
    assert checked > 30  # the comparison really compared ids


@pytest.mark.asyncio
async def test_missing_sparse_vector_is_a_coded_error(kit: Kit) -> None:
    """A collection made without a sparse vector refuses to grow one, to take points with
    it and to be searched by it: INVALID_INPUT naming it, never a crash."""
    from funcpipe.adapters.vectors import Nearest, SearchQuery, SparseVector

    store = await kit.store()
    c = kit.collection
    assert isinstance(await store.ensure_collection(c, DIM)(), Ok)
    again = await store.ensure_collection(c, DIM, "cosine", {}, ["bm25"])()
    assert isinstance(again, Err)
    assert again.error.code == codes.INVALID_INPUT
    assert again.error.ctx["missing_sparse"] == ["bm25"]
    p = Point(str(uuid.uuid4()), [1.0] * DIM, {}, {"bm25": SparseVector((1,), (1.0,))})
    up = await store.upsert(c, [p])()
    assert isinstance(up, Err)
    assert up.error.code == codes.INVALID_INPUT
    q = SearchQuery((Nearest(SparseVector((1,), (1.0,)), "bm25"),))
    s = await store.search(c, q)()
    assert isinstance(s, Err)
    assert s.error.code == codes.INVALID_INPUT
    assert s.error.ctx["missing_sparse"] == ["bm25"]


async def _code_of(plan: AsyncPlan[Any]) -> str:
    res = await perform_async(plan)
    assert isinstance(res, Err)
    return res.error.code


@pytest.mark.asyncio
async def test_list_and_drop_collections(kit: Kit) -> None:
    pts = _rand_points(20, seed=4)
    store = await _ready(kit, pts)
    c = kit.collection
    other = c + "_b"
    assert await perform_async(store.ensure_collection(other, DIM)) == Ok(None)
    listed = (await perform_async(store.list_collections())).unwrap()
    assert {c, other} <= set(listed)
    assert listed == sorted(listed)
    assert await perform_async(store.drop_collection(other)) == Ok(True)
    assert await perform_async(store.drop_collection(other)) == Ok(False)  # idempotent
    listed = (await perform_async(store.list_collections())).unwrap()
    assert c in listed
    assert other not in listed
    assert await _code_of(store.count(other)) == codes.NOT_FOUND
    assert await perform_async(store.count(c)) == Ok(20)  # the other collection is untouched
    assert await _code_of(store.drop_collection("bad/name")) == codes.INVALID_INPUT
    # the name is free again: another dimension is accepted
    assert await perform_async(store.ensure_collection(other, DIM + 1)) == Ok(None)
    assert await perform_async(store.count(other)) == Ok(0)
    if kit.persistent:
        assert await perform_async(store.drop_collection(other)) == Ok(True)
        assert await perform_async(store.close()) == Ok(None)
        reopened = await kit.store()
        listed = (await perform_async(reopened.list_collections())).unwrap()
        assert c in listed
        assert other not in listed
