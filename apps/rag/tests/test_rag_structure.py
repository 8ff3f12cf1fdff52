"""Structural claims about the app (issue 11, finding 8), each a test that could fail.

- Test doubles never ship: no module under ``apps/rag/src`` defines ``MemoryIndex`` or
  ``HashEmbedder``; they live in ``apps/rag/tests/support/rag_doubles``.
- One contract: the same checks run over the doubles and the real adapters (Qdrant Edge
  store, static embedder).
- The spec is read once per run into typed settings (``read_spec``); the run takes them and
  neither reads nor reconstructs it again.
"""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import pytest
from funcpipe.adapters.runtime import perform_async
from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.specs import serialize
from funcpipe.streams import AsyncGen
from funcpipe_rag.adapters import EmbedderPort, StoreIndex
from funcpipe_rag.domain import (
    Bm25Params,
    ChunkingConfig,
    ChunkRecord,
    Document,
    EmbeddedChunk,
    Embedder,
    IndexQuery,
    SourceState,
    SyncContext,
    VectorIndex,
    desired_records,
    plan_source,
)
from funcpipe_rag.pipelines import (
    DEFAULT_SETTINGS,
    DEFAULT_SPEC,
    IngestEvent,
    IngestReport,
    Phase,
    SourceError,
    Walked,
    fold_report,
    ingest_settings,
)
from rag_doubles import HashEmbedder, MemoryIndex

T = TypeVar("T")

SRC = Path(__file__).resolve().parents[1] / "src"
DOUBLES = frozenset({"MemoryIndex", "HashEmbedder"})


def test_no_test_double_is_defined_or_exported_under_src() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef | ast.FunctionDef) and node.name in DOUBLES:
                found.append(f"{path.relative_to(SRC)}: {node.name}")
            if isinstance(node, ast.alias) and node.name in DOUBLES:
                found.append(f"{path.relative_to(SRC)}: imports {node.name}")
    assert found == []
    import funcpipe_rag.adapters as adapters

    assert not DOUBLES & set(dir(adapters))


# -- one contract over the doubles and the real adapters ---------------------------------------


def run(plan: AsyncPlan[T]) -> T:
    res = asyncio.run(perform_async(plan))
    assert isinstance(res, Ok), res
    return res.value


def memory_index(_: Path) -> VectorIndex:
    return MemoryIndex()


def edge_index(tmp: Path) -> VectorIndex:
    from funcpipe.adapters.edge import EdgeStore

    return StoreIndex(EdgeStore(tmp / "edge"), "contract")


def hash_embedder() -> Embedder:
    return EmbedderPort(HashEmbedder(16))


def static_embedder() -> Embedder:
    from funcpipe_rag.app import static_embedder

    return static_embedder(64)


TEXTS = {
    "a.md": "# Alpha\n\nQdrant stores vectors and payloads.\n",
    "b.md": "# Beta\n\nRetry policies back off between attempts.\n",
}


@pytest.mark.parametrize("make_embedder", [hash_embedder, static_embedder])
def test_embedder_contract(make_embedder: Callable[[], Embedder]) -> None:
    emb = make_embedder()
    texts = ["one text", "another text", "one text"]
    got = run(emb.embed(texts))
    assert len(got) == len(texts)
    assert all(len(v) == emb.identity.dim for v in got)
    assert got[0] == got[2]  # deterministic
    assert run(emb.embed(["one text"]))[0] == got[0]  # independent of the batch


@pytest.mark.parametrize("make_index", [memory_index, edge_index])
def test_vector_index_contract(make_index: Callable[[Path], VectorIndex], tmp_path: Path) -> None:
    emb = EmbedderPort(HashEmbedder(16))
    index = make_index(tmp_path)
    assert run(index.info()) is None
    run(index.ensure(16, sparse=True))
    info = run(index.info())
    assert info is not None
    assert info.dim in (None, 16)
    ctx = SyncContext(emb.identity, DEFAULT_SPEC.version, ChunkingConfig(200, 20))
    plans = []
    for key, text in TEXTS.items():
        doc = Document(key, text, f"v-{key}", "md")
        desired = desired_records(doc, ctx)
        plans.append(plan_source(key, desired, doc.version, SourceState(), ctx))
    chunks = [r for p in plans for r in p.embed]
    vectors = run(emb.embed([r.text for r in chunks]))
    bm25 = Bm25Params()
    run(
        index.upsert_chunks(
            [EmbeddedChunk(r, v) for r, v in zip(chunks, vectors, strict=True)], bm25
        )
    )
    commits = [p.commit for p in plans if p.commit is not None]
    run(index.upsert_commits(commits))

    assert sorted(c.source for c in run(index.commits())) == sorted(TEXTS)
    got = run(index.chunks_of(["a.md"]))
    assert sorted(r.id for r in got) == sorted(r.id for r in chunks if r.source == "a.md")
    missing = "00000000-0000-0000-0000-000000000000"
    stored = run(index.vectors([chunks[0].id, missing]))
    assert list(stored) == [chunks[0].id]
    assert stored[chunks[0].id] == pytest.approx(vectors[0], abs=1e-5)
    records, foreign = run(index.scan())
    assert foreign == []
    assert {r.id for r in records} == {r.id for r in chunks} | {c.id for c in commits}
    dense = IndexQuery(vectors[0], "", None, 10, 1000)
    hits = run(index.search(dense))
    assert hits
    assert hits[0].chunk_id == chunks[0].id
    assert {h.chunk_id for h in hits} <= {r.id for r in chunks}  # never a marker
    assert (hits[0].title, hits[0].headings) == (chunks[0].title, chunks[0].headings)
    # the sparse list finds a chunk by a word only it has; hybrid keeps it first too
    rare = _rare_word(chunks)
    if rare is not None:
        word, owner = rare
        for q in (
            IndexQuery(None, word, bm25, 3, 1000),
            IndexQuery(vectors[0], word, bm25, 3, 1000),
        ):
            top = run(index.search(q))
            assert owner in [h.chunk_id for h in top]
        only = run(index.search(IndexQuery(None, word, bm25, 10, 1000)))
        assert [h.chunk_id for h in only] == [owner]
    # the per-source cap, the source restriction and a where filter
    capped = run(index.search(IndexQuery(vectors[0], "", None, 10, 1)))
    assert len({h.source for h in capped}) == len(capped) == len(TEXTS)
    in_b = run(index.search(IndexQuery(vectors[0], "", None, 10, 1000, ("b.md",))))
    assert in_b
    assert {h.source for h in in_b} == {"b.md"}
    assert run(index.search(IndexQuery(vectors[0], "", None, 10, 1000, ()))) == []
    where = run(
        index.search(IndexQuery(vectors[0], "", None, 10, 1000, where=(("source", "a.md"),)))
    )
    assert where
    assert {h.source for h in where} == {"a.md"}

    run(index.delete([r.id for r in chunks if r.source == "a.md"]))
    assert run(index.chunks_of(["a.md"])) == []
    assert run(index.chunks_of(["b.md"]))


def _rare_word(chunks: Sequence[ChunkRecord]) -> tuple[str, str] | None:
    """A word in exactly one chunk (and its id), if there is one."""
    owners: dict[str, set[str]] = {}
    for r in chunks:
        for w in r.text.lower().split():
            if w.isalpha() and len(w) > 4:
                owners.setdefault(w, set()).add(r.id)
    for w, ids in sorted(owners.items()):
        if len(ids) == 1 and not any(w in r.text.lower() for r in chunks if r.id not in ids):
            return w, next(iter(ids))
    return None


# -- the spec is read once per run ---------------------------------------------------------------


def test_a_cli_run_reads_the_spec_once_and_never_reconstructs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ingest --spec FILE`` = ``read_spec`` (the spec checked and read into typed settings,
    counted at the library's ``resolve_ops``) then ``run_ingest`` over those settings: one
    read in all, and the typed ingest never goes through ``reconstruct_pipeline``."""
    import funcpipe.specs._pipeline as pipeline
    import funcpipe_rag.pipelines._settings as ingest_settings_module
    from funcpipe.specs import resolve_ops
    from funcpipe_rag.app import Settings, read_spec, run_ingest

    calls: list[str] = []
    real_resolve = resolve_ops
    real_reconstruct = pipeline._reconstruct

    def resolving(*args: object, **kw: object) -> object:
        calls.append("resolve")
        return real_resolve(*args, **kw)  # type: ignore[arg-type]

    def reconstructing(*args: object, **kw: object) -> object:
        calls.append("reconstruct")
        return real_reconstruct(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest_settings_module, "resolve_ops", resolving)
    monkeypatch.setattr(pipeline, "_reconstruct", reconstructing)
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(serialize(DEFAULT_SPEC, "yaml"))
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in TEXTS.items():
        (docs / name).write_text(text)

    spec = read_spec(spec_file)
    assert isinstance(spec, Ok)
    assert calls == ["resolve"]  # read (and checked) once
    settings = Settings.model_construct(data_dir=tmp_path / "data", collection="once")
    res = asyncio.run(
        run_ingest(
            settings, spec.value, [str(docs)], base=tmp_path, embedder=EmbedderPort(HashEmbedder(8))
        )
    )
    assert isinstance(res, Ok), res
    assert res.value.sources_added == 2
    assert calls == ["resolve"]  # the run took the settings: nothing read or rebuilt again


def test_checking_a_spec_refuses_what_the_run_refuses(tmp_path: Path) -> None:
    """``check_spec`` builds nothing, yet refuses a bad param, an unknown op and a version
    mismatch as reconstruction does."""
    import json

    from funcpipe_rag.app import check_spec, read_spec

    data = json.loads(serialize(DEFAULT_SPEC))
    cases = []
    bad_param = json.loads(json.dumps(data))
    bad_param["ops"][2]["params"]["chunk_chars"] = 1
    cases.append(("RECONSTRUCT_FAIL", bad_param))
    unknown = json.loads(json.dumps(data))
    unknown["ops"][0]["func_id"] = "evil.op"
    cases.append(("UNALLOWED_OP", unknown))
    version = json.loads(json.dumps(data))
    version["ops"][1]["func_version"] = "99"
    cases.append(("VERSION_MISMATCH", version))
    for code, case in cases:
        path = tmp_path / f"{code}.json"
        path.write_text(json.dumps(case))
        got = read_spec(path, reseal=True)
        assert isinstance(got, Err), code
        assert got.error.code == code, got
        assert got.error.stage == "specs"
    assert check_spec(DEFAULT_SPEC) == Ok(DEFAULT_SETTINGS)


# -- the ingest is a stream of events; the report is its fold -----------------------------------


def collect(gen: AsyncGen[IngestEvent]) -> list[Result[IngestEvent, ErrInfo]]:
    async def _all() -> list[Result[IngestEvent, ErrInfo]]:
        return [item async for item in gen()]

    return asyncio.run(_all())


def test_the_report_is_the_fold_of_the_event_stream(tmp_path: Path) -> None:
    from funcpipe_rag.app import Settings, ingest_events, run_ingest

    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in TEXTS.items():
        (docs / name).write_text(text)
    (docs / "c.bin").write_text("not a document type")
    settings = Settings.model_construct(data_dir=tmp_path / "data", collection="fold")
    emb = EmbedderPort(HashEmbedder(8))

    def both(prune: bool = False, dry_run: bool = False) -> tuple[list[IngestEvent], IngestReport]:
        roots = [str(docs)]
        items = collect(
            ingest_events(
                settings,
                DEFAULT_SETTINGS,
                roots,
                base=tmp_path,
                embedder=emb,
                prune=prune,
                dry_run=dry_run,
            )
        )
        assert all(isinstance(i, Ok) for i in items), items
        events = [i.value for i in items if isinstance(i, Ok)]
        rep = asyncio.run(
            run_ingest(
                settings,
                DEFAULT_SETTINGS,
                roots,
                base=tmp_path,
                embedder=emb,
                prune=prune,
                dry_run=dry_run,
            )
        )
        assert isinstance(rep, Ok), rep
        return events, rep.value

    events, report = both(dry_run=True)
    assert events[:3] == [Phase("walk"), Walked(2, ((".bin", 1),)), Phase("sync")]
    assert report == fold_report(events, keep_outcomes=True)
    assert report.sources_added == 2
    assert report.sources_skipped == {".bin": 1}  # skipped in a walked folder, not failed
    errors = [e for e in events if isinstance(e, SourceError)]
    assert errors == []

    ok = asyncio.run(
        run_ingest(settings, DEFAULT_SETTINGS, [str(docs)], base=tmp_path, embedder=emb)
    )
    assert isinstance(ok, Ok)
    (docs / "b.md").unlink()
    events, report = both(prune=True, dry_run=True)  # both runs see the same store
    phases = [e for e in events if isinstance(e, Phase)]
    assert phases == [Phase("walk"), Phase("sync"), Phase("prune")]
    assert report == fold_report(events, keep_outcomes=True)
    assert report.sources_unchanged == 1
    assert report.sources_deleted == 1  # the pruned b.md ...
    assert report.to_json()["sources_skipped"] == {".bin": 1}  # ... c.bin still skipped


def test_a_run_that_cannot_start_ends_its_stream_in_one_err(tmp_path: Path) -> None:
    from funcpipe_rag.app import Settings, ingest_events

    # a spec that cannot run never reaches a run: its settings are an Err (the only way in)
    spec = DEFAULT_SPEC.model_copy(update={"ops": DEFAULT_SPEC.ops[:2]})
    assert ingest_settings(spec).is_err()
    # a collection written by another embedder cannot be opened for this run: the stream is
    # one Err and nothing else
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nSome words to embed.\n")
    settings = Settings.model_construct(data_dir=tmp_path / "data", collection="err")

    def run_with(dim: int) -> list[Result[object, ErrInfo]]:
        emb = EmbedderPort(HashEmbedder(dim))
        events = ingest_events(settings, DEFAULT_SETTINGS, [str(docs)], base=tmp_path, embedder=emb)
        return list(collect(events))

    assert all(isinstance(i, Ok) for i in run_with(8))
    items = run_with(16)
    assert len(items) == 1
    assert isinstance(items[0], Err)


def test_no_progress_callback_is_threaded_through_app_and_pipelines() -> None:
    import inspect

    from funcpipe_rag import pipelines
    from funcpipe_rag.app import run_ingest

    for fn in (run_ingest, pipelines.ingest, pipelines.ingest_events):
        params = inspect.signature(fn).parameters
        assert not {"observe", "on_progress", "progress", "callback"} & set(params), fn
    assert not hasattr(pipelines, "Observer")


# -- no god object: each stage takes what it needs ----------------------------------------------


def test_each_stage_is_a_top_level_function_taking_only_what_it_needs() -> None:
    import dataclasses
    import inspect

    from funcpipe_rag import pipelines
    from funcpipe_rag.pipelines import _stages, _write

    assert not hasattr(pipelines, "IngestEnv")
    assert not hasattr(_stages, "IngestEnv")
    stages: dict[Callable[..., object], set[str]] = {
        _stages.read_source: {"raw", "seen", "store", "cfg"},
        _stages.to_items: {"parsed"},
        _stages.plan_group: {"docs", "ctx", "store", "cfg"},
        _stages.embed_group: {"plans", "cfg", "reuse"},
        _write.write_sources: {"group", "store", "cfg"},
    }
    for fn, wanted in stages.items():
        assert fn.__qualname__ == fn.__name__  # top level, not a closure
        assert set(inspect.signature(fn).parameters) == wanted, fn
    # the seen set goes to the read stage only; the store session never to embed
    assert [f for f, w in stages.items() if "seen" in w] == [_stages.read_source]
    assert _stages.embed_group not in [f for f, w in stages.items() if "store" in w]
    # the context every stage may read is immutable
    cfg = pipelines.RunConfig(EmbedderPort(HashEmbedder(8)), pipelines.DEFAULT_SETTINGS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.dry_run = True  # type: ignore[misc]


# -- errors are typed values with the source key ------------------------------------------------


class BrokenWrites(MemoryIndex):
    """Every chunk upsert fails for good (DB_ERROR is not retried)."""

    def upsert_chunks(
        self, points: Sequence[EmbeddedChunk], bm25: Bm25Params | None = None
    ) -> AsyncPlan[None]:
        async def _run() -> Result[None, ErrInfo]:
            return Err(ErrInfo(codes.DB_ERROR, "disk on fire"))

        return _run


def test_a_failed_group_write_is_one_typed_error_per_source_with_its_key(tmp_path: Path) -> None:
    from funcpipe_rag.adapters import RootsSource
    from funcpipe_rag.pipelines import IngestRequest, ingest_events

    docs = tmp_path / "docs"
    docs.mkdir()
    names = [f"p{i}.md" for i in range(5)]
    for i, name in enumerate(names):
        (docs / name).write_text(f"# Page {i}\n\nWords about topic number {i} and more.\n")
    source = RootsSource([str(docs)], base=tmp_path, http=None)
    request = IngestRequest(source, source.root_keys())
    emb = EmbedderPort(HashEmbedder(8))
    items = collect(ingest_events(DEFAULT_SETTINGS, BrokenWrites(), emb, request))
    assert all(isinstance(i, Ok) for i in items), items  # the run goes on past each source
    errors = [i.value for i in items if isinstance(i, Ok) and isinstance(i.value, SourceError)]
    assert sorted(e.source for e in errors) == [f"docs/{n}" for n in names]
    assert {(e.code, e.backend) for e in errors} == {(codes.DB_ERROR, True)}
    assert all("disk on fire" in e.msg for e in errors)


def test_the_write_stage_fails_each_source_not_the_group() -> None:
    from funcpipe_rag.pipelines import (
        DEFAULT_SETTINGS,
        Ready,
        RunConfig,
        StoreSession,
        _write,
        source_error,
    )

    emb = EmbedderPort(HashEmbedder(8))
    ctx = SyncContext(emb.identity, "h", ChunkingConfig(200, 20))
    group = []
    for key, text in TEXTS.items():
        doc = Document(key, text, f"v-{key}", "md")
        plan = plan_source(key, desired_records(doc, ctx), doc.version, SourceState(), ctx)
        group.append(Ready(plan, tuple(run(emb.embed([r.text for r in plan.embed])))))
    store = StoreSession(BrokenWrites())
    cfg = RunConfig(emb, DEFAULT_SETTINGS)
    out = run(_write.write_sources(group, store=store, cfg=cfg))
    assert [type(r) for r in out] == [Err, Err]
    errs = [r.error for r in out if isinstance(r, Err)]
    assert [e.path for e in errs] == [(k,) for k in TEXTS]
    assert all("sources" not in e.ctx for e in errs)
    assert [source_error(e).source for e in errs] == list(TEXTS)
    # the source is the key in path[0]; nothing is unpacked from ctx
    packed = ErrInfo(codes.DB_ERROR, "x", "store", ctx={"sources": ["a.md", "b.md"]})
    assert source_error(packed).source == "?"
