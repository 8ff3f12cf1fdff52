"""The ingest, query and verify descriptions over in-memory ports and real files.

Fast: a deterministic hashing embedder and the in-memory index; retries run on a fake clock.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from funcpipe.adapters.http import HttpClient
from funcpipe.adapters.runtime import perform_async
from funcpipe.async_plan import AsyncPlan
from funcpipe.policies import BackpressurePolicy, ChunkPolicy, RetryPolicy
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.specs import PipelineSpec, batch_map_op, flat_map_op, map_op, pipeline_spec
from funcpipe.streams import AsyncGen
from funcpipe.testing import make_test_resilience_env
from funcpipe_rag.adapters import EmbedderPort, RootsSource
from funcpipe_rag.domain import Bm25Params, CommitRecord, EmbeddedChunk, RawSource, Vector
from funcpipe_rag.pipelines import (
    DEFAULT_SPEC,
    DESCRIBE_ENTRIES,
    DOCS_ID,
    EMBED_ID,
    PLAN_ID,
    READ_ID,
    WRITE_ID,
    IngestReport,
    IngestRequest,
    ingest,
    ingest_settings,
    search,
    verify,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from rag_doubles import HashEmbedder, MemoryIndex


def small_spec(*, group: int = 2, upsert_batch: int = 3, chunk_chars: int = 120) -> PipelineSpec:
    """The default pipeline with tiny groups and batches, so runs make many write calls."""
    retry = RetryPolicy(max_attempts=4, backoff_base_ms=100, max_backoff_ms=1_000)
    return pipeline_spec(
        "rag-test",
        [
            map_op(
                DESCRIBE_ENTRIES[READ_ID],
                params={"max_bytes": 1_000_000},
                backpressure=BackpressurePolicy(max_concurrent=4),
            ),
            flat_map_op(DESCRIBE_ENTRIES[DOCS_ID]),
            batch_map_op(
                DESCRIBE_ENTRIES[PLAN_ID],
                chunk=ChunkPolicy(max_units=3, max_delay_ms=0),
                params={"chunk_chars": chunk_chars, "chunk_overlap": 0},
                retry=retry,
                backpressure=BackpressurePolicy(max_concurrent=3),
            ),
            batch_map_op(
                DESCRIBE_ENTRIES[EMBED_ID],
                params={"embed_batch": 4},
                chunk=ChunkPolicy(max_units=group, max_delay_ms=0),
                retry=retry,
                backpressure=BackpressurePolicy(max_concurrent=2),
            ),
            batch_map_op(
                DESCRIBE_ENTRIES[WRITE_ID],
                params={"upsert_batch": upsert_batch},
                chunk=ChunkPolicy(max_units=group, max_delay_ms=0),
                retry=retry,
            ),
        ],
    )


SPEC = small_spec()


@dataclass(frozen=True)
class TextRaw:
    key: str
    text: str

    def read(self, max_bytes: int) -> AsyncPlan[str]:
        async def _run() -> Result[str, ErrInfo]:
            return Ok(self.text)

        return _run


class DictSource:
    """An in-memory DocumentSource: key -> text, in key order."""

    def __init__(self, docs: dict[str, str]) -> None:
        self.docs = dict(docs)

    def sources(self) -> AsyncGen[RawSource]:
        items = sorted(self.docs.items())

        async def _gen() -> AsyncIterator[Result[RawSource, ErrInfo]]:
            for k, v in items:
                yield Ok(TextRaw(k, v))

        return _gen


def run_ingest(
    index: MemoryIndex,
    embedder: EmbedderPort,
    source: object,
    *,
    roots: Sequence[str] = ("",),
    prune: bool = False,
    dry_run: bool = False,
    spec: PipelineSpec = SPEC,
) -> IngestReport:
    request = IngestRequest(source, tuple(roots), prune=prune, dry_run=dry_run)  # type: ignore[arg-type]
    settings = ingest_settings(spec).unwrap()
    plan = ingest(settings, index, embedder, request, resilience=make_test_resilience_env())
    res = asyncio.run(perform_async(plan))
    assert isinstance(res, Ok), res
    return res.value


def snapshot(index: MemoryIndex) -> dict[str, dict[str, object]]:
    return {pid: payload for pid, (_, payload) in index.points.items()}


def clean_store(docs: dict[str, str], spec: PipelineSpec = SPEC) -> dict[str, dict[str, object]]:
    index = MemoryIndex()
    run_ingest(index, EmbedderPort(HashEmbedder(16)), DictSource(docs), spec=spec)
    return snapshot(index)


PARAS = [
    "Retries use exponential backoff with jitter.",
    "A token bucket limits the rate of embedding calls.",
    "Each source is committed after its points are written.",
    "Chunks carry exact character offsets into the text.",
    "Search returns the nearest chunks, best first.",
    "Specs travel as data and never as pickles.",
]


def doc(*idx: int) -> str:
    return "\n\n".join(PARAS[i] for i in idx)


# -- incremental behaviour ---------------------------------------------------------------------


def test_rerun_edit_dry_run_and_prune_on_real_files(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "a.md").write_text("# A\n\n" + doc(0, 1, 2))
    (root / "b.txt").write_text(doc(3, 4))
    (root / "sub" / "c.rst").write_text(doc(5, 0))
    # hidden entries (VCS dirs, the data dir, dotfiles) are never sources, at any depth
    (root / ".git").mkdir()
    (root / ".git" / "HEAD.txt").write_text(doc(1))
    (root / "sub" / ".funcpipe").mkdir()
    (root / "sub" / ".funcpipe" / "notes.md").write_text(doc(2))
    (root / ".draft.md").write_text(doc(3))
    hasher = HashEmbedder(16)
    emb = EmbedderPort(hasher)
    index = MemoryIndex()
    src = RootsSource([str(root)], base=tmp_path)
    roots = src.root_keys()
    assert roots == ("docs",)

    first = run_ingest(index, emb, src, roots=roots)
    assert (first.sources_added, first.sources_seen, first.errors) == (3, 3, [])
    assert {p["source"] for p in snapshot(index).values()} == {
        "docs/a.md",
        "docs/b.txt",
        "docs/sub/c.rst",
    }
    assert first.chunks_embedded == first.chunks_upserted > 3
    assert verify_ok(index)

    writes, texts = index.writes, hasher.texts
    again = run_ingest(index, emb, RootsSource([str(root)], base=tmp_path), roots=roots)
    assert (again.sources_unchanged, again.chunks_embedded, again.chunks_upserted) == (3, 0, 0)
    assert index.writes == writes
    assert hasher.texts == texts

    # Edit one document: only its new chunks are embedded, its stale points removed.
    (root / "a.md").write_text("# A\n\n" + doc(0, 1, 4, 5))
    before = snapshot(index)
    planned = run_ingest(
        index, emb, RootsSource([str(root)], base=tmp_path), roots=roots, dry_run=True
    )
    assert snapshot(index) == before
    assert hasher.texts == texts
    done = run_ingest(index, emb, RootsSource([str(root)], base=tmp_path), roots=roots)
    assert planned.to_json() == done.to_json()
    assert (done.sources_updated, done.sources_unchanged) == (1, 2)
    assert done.chunks_embedded == hasher.texts - texts
    old_hashes = {p["chunk_hash"] for p in before.values() if p["kind"] == "chunk"}
    new_a = {
        p["chunk_hash"]
        for p in snapshot(index).values()
        if p["kind"] == "chunk" and p["source"] == "docs/a.md"
    }
    assert done.chunks_embedded == len(new_a - old_hashes)
    assert done.chunks_deleted > 0
    assert verify_ok(index)

    # Delete one document: without --prune it stays, with --prune its points go.
    (root / "b.txt").unlink()
    kept = run_ingest(index, emb, RootsSource([str(root)], base=tmp_path), roots=roots)
    assert kept.sources_deleted == 0
    assert any(p["source"] == "docs/b.txt" for p in snapshot(index).values())
    pruned = run_ingest(
        index, emb, RootsSource([str(root)], base=tmp_path), roots=roots, prune=True
    )
    assert pruned.sources_deleted == 1
    assert not any(p["source"] == "docs/b.txt" for p in snapshot(index).values())

    # The store now equals a clean run over the current files.
    fresh = MemoryIndex()
    run_ingest(fresh, emb, RootsSource([str(root)], base=tmp_path), roots=roots)
    assert snapshot(index) == snapshot(fresh)


def verify_ok(index: MemoryIndex) -> bool:
    res = asyncio.run(perform_async(verify(index)))
    assert isinstance(res, Ok)
    return res.value[0].ok


@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["a.md", "b.md", "c.txt", "d.jsonl"]),
            st.lists(st.integers(0, len(PARAS) - 1), min_size=1, max_size=4),
            max_size=4,
        ),
        min_size=1,
        max_size=4,
    )
)
@settings(max_examples=30)
def test_any_sequence_of_corpora_converges_to_a_clean_run(
    versions: list[dict[str, list[int]]],
) -> None:
    index = MemoryIndex()
    emb = EmbedderPort(HashEmbedder(16))

    def render(name: str, idx: list[int]) -> str:
        if name.endswith(".jsonl"):
            return "\n".join(f'{{"id": {i}, "text": "{PARAS[p]}"}}' for i, p in enumerate(idx))
        return doc(*idx)

    for v in versions:
        docs = {k: render(k, idx) for k, idx in v.items()}
        run_ingest(index, emb, DictSource(docs), prune=True)
        assert snapshot(index) == clean_store(docs)
        rerun = run_ingest(index, emb, DictSource(docs), prune=True)
        assert rerun.chunks_embedded == rerun.chunks_upserted == rerun.chunks_deleted == 0


def test_spec_hash_is_stamped_and_a_new_spec_rewrites_payloads_without_embedding() -> None:
    docs = {"a.md": doc(0, 1, 2, 3)}
    hasher = HashEmbedder(16)
    index = MemoryIndex()
    run_ingest(index, EmbedderPort(hasher), DictSource(docs))
    assert {p["spec_hash"] for p in snapshot(index).values()} == {SPEC.version}
    other = small_spec(upsert_batch=5)
    assert other.version != SPEC.version
    texts = hasher.texts
    rep = run_ingest(index, EmbedderPort(hasher), DictSource(docs), spec=other)
    assert rep.sources_updated == 1
    assert rep.chunks_embedded == 0
    assert hasher.texts == texts
    assert {p["spec_hash"] for p in snapshot(index).values()} == {other.version}
    assert snapshot(index) == clean_store(docs, other)


def test_repeated_paragraphs_are_stored_once_per_occurrence() -> None:
    index = MemoryIndex()
    run_ingest(
        index,
        EmbedderPort(HashEmbedder(16)),
        DictSource({"r.txt": doc(0, 0, 0)}),
        spec=small_spec(chunk_chars=60),
    )
    chunks = [p for p in snapshot(index).values() if p["kind"] == "chunk"]
    assert sorted(int(str(p["occurrence"])) for p in chunks) == [0, 1, 2]


# -- faults ----------------------------------------------------------------------------------


class FlakyIndex(MemoryIndex):
    """Fails the first ``fail`` write calls with a transient error."""

    def __init__(self, fail: int) -> None:
        super().__init__()
        self.fail = fail
        self.failed = 0

    def upsert_chunks(
        self, points: Sequence[EmbeddedChunk], bm25: Bm25Params | None = None
    ) -> AsyncPlan[None]:
        inner = super().upsert_chunks(points, bm25)

        async def _run() -> Result[None, ErrInfo]:
            if self.failed < self.fail:
                self.failed += 1
                return Err(ErrInfo(codes.TRANSIENT, "store hiccup"))
            return await inner()

        return _run


class FlakyEmbedder(EmbedderPort):
    """Rate-limits the first ``fail`` calls (with a Retry-After), then embeds."""

    def __init__(self, fail: int, code: str = codes.RATE_LIMIT) -> None:
        super().__init__(HashEmbedder(16))
        self.fail, self.code, self.calls = fail, code, 0

    def embed(self, texts: Sequence[str]) -> AsyncPlan[list[Vector]]:
        inner = super().embed(texts)

        async def _run() -> Result[list[Vector], ErrInfo]:
            self.calls += 1
            if self.calls <= self.fail:
                return Err(ErrInfo(self.code, "slow down", ctx={"retry_after_s": 2.0}))
            return await inner()

        return _run


DOCS = {f"d{i}.md": doc(i % 6, (i + 1) % 6, (i + 2) % 6) for i in range(7)}


def test_transient_store_and_rate_limit_errors_are_retried_to_the_clean_state() -> None:
    index = FlakyIndex(fail=3)
    emb = FlakyEmbedder(fail=2)
    rep = run_ingest(index, emb, DictSource(DOCS))
    assert rep.errors == []
    assert index.failed == 3
    assert emb.calls > 2
    assert snapshot(index) == clean_store(DOCS)


class ClosedIndex(MemoryIndex):
    """A store that cannot be opened (``ensure``) or read (``commits``)."""

    def __init__(self, fail_on: str, code: str = codes.NETWORK) -> None:
        super().__init__()
        self.fail_on, self.code = fail_on, code

    def ensure(self, dim: int, sparse: bool = False) -> AsyncPlan[None]:
        inner = super().ensure(dim, sparse)

        async def _run() -> Result[None, ErrInfo]:
            for _ in range(5):
                await asyncio.sleep(0)  # let the reads get going meanwhile
            if self.fail_on == "ensure":
                return Err(ErrInfo(self.code, "connection refused"))
            return await inner()

        return _run

    def commits(self) -> AsyncPlan[list[CommitRecord]]:
        inner = super().commits()

        async def _run() -> Result[list[CommitRecord], ErrInfo]:
            if self.fail_on == "commits":
                return Err(ErrInfo(self.code, "connection reset"))
            return await inner()

        return _run


def test_a_store_that_cannot_open_fails_the_run_before_anything_is_written() -> None:
    # An existing collection whose markers cannot be read fails before anything is embedded;
    # a missing one is created by the first write (after the embedder answered): when that
    # fails, the run fails and nothing is written.
    for fail_on in ("ensure", "commits"):
        index = ClosedIndex(fail_on)
        if fail_on == "commits":
            index.dim = 16
        hasher = HashEmbedder(16)
        request = IngestRequest(DictSource(DOCS), ("",))
        plan = ingest(ingest_settings(SPEC).unwrap(), index, EmbedderPort(hasher), request)
        res = asyncio.run(perform_async(plan))
        assert isinstance(res, Err)
        assert res.error.code == codes.NETWORK
        assert res.error.stage == "store"
        assert res.error.msg.startswith("cannot")
        assert hasher.texts == 0 or fail_on == "ensure"
        assert index.writes == 0
    # the same store, once it opens, ingests everything
    ok = run_ingest(ClosedIndex("never"), EmbedderPort(HashEmbedder(16)), DictSource(DOCS))
    assert (ok.sources_added, ok.errors) == (len(DOCS), [])


def test_a_persistent_embedder_failure_fails_its_sources_as_backend_errors() -> None:
    index = MemoryIndex()
    emb = FlakyEmbedder(fail=10_000, code=codes.AUTH)
    rep = run_ingest(index, emb, DictSource(DOCS))
    assert len(rep.errors) == len(DOCS)
    assert {e.code for e in rep.errors} == {codes.AUTH}
    assert rep.backend_failed
    assert snapshot(index) == {}


def test_search_finds_the_matching_chunk_and_never_a_marker() -> None:
    index = MemoryIndex()
    emb = EmbedderPort(HashEmbedder(64))
    run_ingest(index, emb, DictSource(DOCS))
    res = asyncio.run(perform_async(search(index, emb, "token bucket rate of embedding calls", 3)))
    assert isinstance(res, Ok)
    hits = res.value
    assert len(hits) == 3
    assert "token bucket" in hits[0].text
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    spans = [(h.text, DOCS[h.source][h.start : h.end]) for h in hits]
    # readable text; its span in the source starts and ends with it and holds its words
    assert all(s[0] == t[0] and s[-1] == t[-1] for t, s in spans)
    assert all(w in s for t, s in spans for w in t.split())


def test_verify_repairs_a_half_written_store() -> None:
    index = MemoryIndex()
    emb = EmbedderPort(HashEmbedder(16))
    run_ingest(index, emb, DictSource(DOCS))
    clean = snapshot(index)
    some_chunk = next(pid for pid, p in clean.items() if p["kind"] == "chunk")
    del index.points[some_chunk]
    orphan_src = {"x.md": doc(1)}
    other = MemoryIndex()
    run_ingest(other, emb, DictSource(orphan_src))
    index.points.update({k: v for k, v in other.points.items() if v[1]["kind"] == "chunk"})
    res = asyncio.run(perform_async(verify(index, repair=True)))
    assert isinstance(res, Ok)
    found, after = res.value
    assert {p.code for p in found.problems} == {"HALF_WRITTEN", "ORPHAN"}
    assert after is not None
    assert after.ok
    run_ingest(index, emb, DictSource(DOCS))
    assert snapshot(index) == clean


# -- bad input -------------------------------------------------------------------------------


def test_bad_input_corpus_reports_each_source_and_ingests_the_rest(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "good.md").write_text("# Good\n\n" + doc(0, 1))
    (root / "good.html").write_text(
        "<html><body><p>" + PARAS[2] + "</p><script>x()</script></body></html>"
    )
    (root / "empty.md").write_text("")
    (root / "blank.txt").write_text("  \n\n ")
    (root / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (root / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (root / "huge.txt").write_bytes(b"x" * 1_100_000)
    (root / "long_line.txt").write_text("word " * 60_000)
    (root / "notes.odt").write_bytes(b"PK\x03\x04")
    (root / "data.jsonl").write_text(
        '{"id": "one", "text": "'
        + PARAS[3]
        + '"}\n{not json\n{"id": "two", "text": "'
        + PARAS[4]
        + '"}\n'
    )
    (root / "loop").mkdir()
    os.symlink(root, root / "loop" / "back")
    unreadable = root / "secret.md"
    unreadable.write_text("secret")
    unreadable.chmod(0)
    client = httpx.AsyncClient(timeout=5.0)
    src = RootsSource(
        [str(root), "http://127.0.0.1:9/nothing-listens-here"],
        base=tmp_path,
        http=HttpClient(client),
    )
    index = MemoryIndex()
    try:
        rep = run_ingest(index, EmbedderPort(HashEmbedder(16)), src, roots=src.root_keys())
    finally:
        asyncio.run(client.aclose())
    got = {e.source: e.code for e in rep.errors}
    expected = {
        "corpus/empty.md": codes.EMPTY_INPUT,
        "corpus/blank.txt": codes.EMPTY_INPUT,
        "corpus/binary.txt": codes.DECODE_ERROR,
        "corpus/latin1.txt": codes.DECODE_ERROR,
        "corpus/huge.txt": codes.TOO_LARGE,
        "corpus/data.jsonl#L2": codes.PARSE_ERROR,
        "corpus/loop/back": codes.INVALID_INPUT,
        "http://127.0.0.1:9/nothing-listens-here": codes.NETWORK,
    }
    if os.geteuid() != 0:  # root reads anything
        expected["corpus/secret.md"] = codes.PERMISSION_DENIED
    assert got == expected
    assert all(e.msg for e in rep.errors)
    assert src.skipped == {".odt": 1}  # an unknown type in a walked folder: skipped, counted
    stored = {p["source"] for p in snapshot(index).values()}
    want = {
        "corpus/good.md",
        "corpus/good.html",
        "corpus/long_line.txt",
        "corpus/data.jsonl#one",
        "corpus/data.jsonl#two",
    }
    if os.geteuid() == 0:
        want.add("corpus/secret.md")
    assert stored == want
    assert not rep.backend_failed
    assert verify_ok(index)
    # A failed source is never pruned: its earlier data stays.
    rep2 = run_ingest(
        index,
        EmbedderPort(HashEmbedder(16)),
        RootsSource([str(root)], base=tmp_path),
        roots=("corpus",),
        prune=True,
    )
    assert rep2.sources_deleted == 0


def test_default_spec_runs_and_names_its_ops() -> None:
    assert [op.func_id for op in DEFAULT_SPEC.ops] == [
        READ_ID,
        DOCS_ID,
        PLAN_ID,
        EMBED_ID,
        WRITE_ID,
    ]
    index = MemoryIndex()
    rep = run_ingest(index, EmbedderPort(HashEmbedder(16)), DictSource(DOCS), spec=DEFAULT_SPEC)
    assert rep.sources_added == len(DOCS)
