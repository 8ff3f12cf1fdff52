"""Collection management on real stores (Qdrant Edge and qdrant-client local): collections,
drop, stats, sources, delete by key and glob, and a delete cut short that converges."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TypeVar

import pytest
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe_rag.adapters import EmbedderPort
from funcpipe_rag.app import (
    Settings,
    open_index,
    run_collections,
    run_delete,
    run_drop,
    run_ingest,
    run_sources,
    run_stats,
    run_verify,
)
from funcpipe_rag.pipelines import DEFAULT_SETTINGS, DEFAULT_SPEC, match_sources
from hypothesis import given
from hypothesis import strategies as st
from rag_doubles import HashEmbedder

T = TypeVar("T")

EMB = EmbedderPort(HashEmbedder(8))
FILES = {
    "a.md": "# A\n\nAlpha text about retries.\n",
    "b.md": "# B\n\nBeta text about streams.\n",
    "sub/c.md": "# C\n\nGamma text about stores.\n",
}


def drive(main: Callable[[], Coroutine[object, object, Result[T, ErrInfo]]]) -> Result[T, ErrInfo]:
    return asyncio.run(main())


def ok(main: Callable[[], Coroutine[object, object, Result[T, ErrInfo]]]) -> T:
    res = drive(main)
    assert isinstance(res, Ok), res
    return res.value


def _settings(tmp: Path, backend: str, collection: str = "docs") -> Settings:
    if backend == "edge":
        return Settings(data_dir=tmp / "data", collection=collection)
    return Settings(data_dir=tmp / "data", qdrant_path=tmp / "q", collection=collection)


def _ingest(s: Settings, tmp: Path) -> None:
    root = tmp / "docs"
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    rep = ok(lambda: run_ingest(s, DEFAULT_SETTINGS, [str(root)], base=tmp, embedder=EMB))
    assert rep.sources_added == 3
    assert not rep.errors


@pytest.mark.parametrize("backend", ["edge", "qdrant-local"])
def test_collections_stats_sources_delete_drop_round_trip(tmp_path: Path, backend: str) -> None:
    s = _settings(tmp_path, backend)
    _ingest(s, tmp_path)
    other = s.model_copy(update={"collection": "other"})
    _ingest(other, tmp_path)

    cols = ok(lambda: run_collections(s))
    assert [c.name for c in cols] == ["docs", "other"]
    assert all(c.sources == 3 and c.embedder == "funcpipe/hash-bow@8" for c in cols)
    assert cols[0].to_json()["points"] == cols[0].points > 3

    stats = ok(lambda: run_stats(s, "docs"))
    assert stats.sources == 3
    assert stats.points == stats.chunks + 3 + 1  # chunks, three markers, the stamp
    assert stats.embedder == "funcpipe/hash-bow@8"
    assert stats.spec_hashes == (DEFAULT_SPEC.version,)
    assert stats.disk_bytes is not None
    assert stats.disk_bytes > 0

    srcs = ok(lambda: run_sources(s, "docs"))
    keys = [e.source for e in srcs]
    assert keys == sorted(keys)
    assert len(keys) == 3
    assert all(e.chunks >= 1 and len(e.version) == 64 for e in srcs)
    assert sum(e.chunks for e in srcs) == stats.chunks

    c_key = next(k for k in keys if k.endswith("c.md"))
    glob = c_key.rsplit("/", 1)[0] + "/*"  # the sub folder's glob
    rep = ok(lambda: run_delete(s, "docs", [glob, "no/such/key.md"]))
    assert rep.deleted == (c_key,)
    assert rep.chunks_deleted == next(e.chunks for e in srcs if e.source == c_key)
    assert [(e.source, e.code) for e in rep.errors] == [("no/such/key.md", codes.NOT_FOUND)]
    assert rep.to_json()["deleted"] == [c_key]
    left = [e.source for e in ok(lambda: run_sources(s, "docs"))]
    assert left == [k for k in keys if k != c_key]
    found, _ = ok(lambda: run_verify(s, repair=False, embedder=EMB))
    assert found.ok
    assert found.sources == 2
    # the other collection is untouched
    assert len(ok(lambda: run_sources(other, "other"))) == 3

    assert ok(lambda: run_drop(s, "other")).dropped is True
    assert ok(lambda: run_drop(s, "other")).dropped is False
    assert [c.name for c in ok(lambda: run_collections(s))] == ["docs"]
    gone = drive(lambda: run_stats(s, "other"))
    assert isinstance(gone, Err)
    assert gone.error.code == codes.NOT_FOUND
    assert gone.error.stage == "config"
    bad = drive(lambda: run_drop(s, "bad/name"))
    assert isinstance(bad, Err)
    assert bad.error.code == codes.INVALID_INPUT


def test_delete_cut_short_converges(tmp_path: Path) -> None:
    """A delete that removed a source's chunks but not its marker (a crash between the two
    steps) is finished by the next delete: the marker goes, verify is ok."""
    s = _settings(tmp_path, "edge")
    _ingest(s, tmp_path)
    key = ok(lambda: run_sources(s, "docs"))[0].source

    async def _half() -> Result[None, ErrInfo]:
        async with open_index(s, "docs") as opened:
            if isinstance(opened, Err):
                return opened
            idx = opened.value
            chunks = await idx.chunks_of([key])()
            if isinstance(chunks, Err):
                return chunks
            return await idx.delete([c.id for c in chunks.value])()

    ok(_half)
    found, _ = ok(lambda: run_verify(s, repair=False, embedder=EMB))
    assert not found.ok  # the half-done state is visible
    rep = ok(lambda: run_delete(s, "docs", [key]))
    assert rep.deleted == (key,)
    assert rep.chunks_deleted == 0
    found, _ = ok(lambda: run_verify(s, repair=False, embedder=EMB))
    assert found.ok
    assert found.sources == 2
    # and chunks without a marker (the marker went first elsewhere) are found by key too
    key2 = ok(lambda: run_sources(s, "docs"))[0].source

    async def _marker_only() -> Result[None, ErrInfo]:
        async with open_index(s, "docs") as opened:
            if isinstance(opened, Err):
                return opened
            idx = opened.value
            commits = await idx.commits()()
            if isinstance(commits, Err):
                return commits
            return await idx.delete([c.id for c in commits.value if c.source == key2])()

    ok(_marker_only)
    rep = ok(lambda: run_delete(s, "docs", [key2]))
    assert rep.deleted == (key2,)
    assert rep.chunks_deleted >= 1
    found, _ = ok(lambda: run_verify(s, repair=False, embedder=EMB))
    assert found.ok
    assert found.sources == 1


def test_missing_collection_and_no_patterns(tmp_path: Path) -> None:
    s = _settings(tmp_path, "edge")
    for run in (
        lambda: run_sources(s, "nothing"),
        lambda: run_delete(s, "nothing", ["x"]),
    ):
        res = drive(run)
        assert isinstance(res, Err)
        assert res.error.code == codes.NOT_FOUND
    assert ok(lambda: run_collections(s)) == []
    _ingest(s, tmp_path)
    res = drive(lambda: run_delete(s, "docs", []))
    assert isinstance(res, Err)
    assert res.error.code == codes.INVALID_INPUT


_key = st.text("ab/*?.", min_size=1, max_size=6)


@given(st.sets(_key, max_size=6), st.lists(_key, max_size=4))
def test_match_sources_laws(known: set[str], patterns: list[str]) -> None:
    """Matched keys are known keys, sorted; an exact key always matches itself; a pattern is
    unmatched exactly when it matches no key."""
    import fnmatch

    hit, unmatched = match_sources(known, patterns)
    assert hit == sorted(set(hit))
    assert set(hit) <= known
    for p in patterns:
        matches = p in known or any(
            any(c in "*?[" for c in p) and fnmatch.fnmatchcase(k, p) for k in known
        )
        assert (p in unmatched) == (not matches)
        if p in known:
            assert p in hit
