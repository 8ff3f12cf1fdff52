"""Hybrid search (dense + BM25, fused by RRF) on the real backends, the per-source cap, the
filters, the search config as spec data and in the collection's stamp, and BM25's laws."""

from __future__ import annotations

import asyncio
import fnmatch
import json
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import pytest
from funcpipe.result import Err, ErrInfo, Result
from funcpipe.specs import PipelineSpec, seal, serialize
from funcpipe_rag.adapters import Bm25Encoder, EmbedderPort
from funcpipe_rag.app import Settings, open_backends, run_ingest, run_search
from funcpipe_rag.cli import cli
from funcpipe_rag.domain import (
    DENSE_ONLY,
    Bm25Params,
    CollectionStamp,
    SearchConfig,
    SearchHit,
    SearchOptions,
    parse_where,
)
from funcpipe_rag.pipelines import (
    DEFAULT_SEARCH,
    DEFAULT_SETTINGS,
    DEFAULT_SPEC,
    IngestReport,
    build_default_spec,
    ingest_settings,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from rag_doubles import HashEmbedder, drive
from typer.testing import CliRunner

T = TypeVar("T")
EMB = EmbedderPort(HashEmbedder(32))

PAGES = {
    "docs/subprocess.md": "# subprocess\n\nThe run function starts a child process. Pass "
    "capture_output=True to capture its stdout and stderr.\n\n## Popen\n\nPopen is the "
    "low-level interface behind run.\n",
    "docs/secrets.md": "# secrets\n\nThe token_urlsafe function generates a secure random "
    "token for password resets.\n\n## Tokens\n\nUse token_hex for hexadecimal tokens.\n",
    "docs/glob.md": "# glob\n\nThe glob module finds path names matching a wildcard pattern "
    "such as *.py, the way a Unix shell does.\n",
    "docs/asyncio.md": "# asyncio\n\nasyncio runs coroutines on an event loop. Subprocesses "
    "can be started from coroutines too.\n\n## Tasks\n\nA task wraps a coroutine.\n\n"
    "## Streams\n\nStreams read and write network data.\n",
}


def write_corpus(root: Path) -> Path:
    for name, text in PAGES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root / "docs"


def spec_of(mode: str, **changes: object) -> PipelineSpec:
    return build_default_spec(replace(DEFAULT_SEARCH, mode=mode, **changes))  # type: ignore[arg-type]


def ingest(settings_: Settings, root: Path, spec: PipelineSpec = DEFAULT_SPEC) -> IngestReport:
    return drive(
        lambda: run_ingest(
            settings_, ingest_settings(spec).unwrap(), [str(root / "docs")], base=root, embedder=EMB
        )
    )


def find(settings_: Settings, query: str, options: SearchOptions | int = 5) -> list[SearchHit]:
    return drive(lambda: run_search(settings_, query, options, embedder=EMB))


def stamp_of(settings_: Settings) -> CollectionStamp | None:
    async def _info() -> Result[CollectionStamp | None, ErrInfo]:
        async with open_backends(settings_, settings_.collection or "h", embedder=EMB) as opened:
            if isinstance(opened, Err):
                return opened
            got = await opened.value.index.info()()
            return got.map(lambda info: info.stamp if info is not None else None)

    return drive(_info)


def _settings(tmp_path: Path, backend: str, collection: str = "h") -> Settings:
    if backend == "edge":
        return Settings.model_construct(data_dir=tmp_path / "data", collection=collection)
    return Settings.model_construct(
        data_dir=tmp_path / "data", collection=collection, qdrant_path=tmp_path / "q"
    )


# -- every backend, every mode ----------------------------------------------------------------


@pytest.mark.parametrize("backend", ["edge", "qdrant-local"])
@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
def test_every_mode_searches_on_every_embedded_backend(
    tmp_path: Path, backend: str, mode: str
) -> None:
    """The hash embedder knows no meaning, so a keyword question is BM25's: sparse and hybrid
    put the page naming the function first; every mode returns titled, capped hits."""
    write_corpus(tmp_path)
    s = _settings(tmp_path, backend)
    first = ingest(s, tmp_path, spec_of(mode))
    assert first.errors == []
    stamp = stamp_of(s)
    assert stamp is not None
    assert stamp.search.mode == mode
    hits = find(s, "token_urlsafe secure token", 4)
    assert hits
    per: dict[str, int] = {}
    for h in hits:
        per[h.source] = per.get(h.source, 0) + 1
    assert max(per.values()) <= DEFAULT_SEARCH.per_source
    if mode != "dense":
        assert hits[0].source == "docs/secrets.md"
        assert all(h.score > 0 for h in hits)
    again = ingest(s, tmp_path, spec_of(mode))
    assert (again.chunks_embedded, again.chunks_upserted) == (0, 0)


def test_a_stopword_only_query_finds_nothing_by_bm25_and_never_fails(tmp_path: Path) -> None:
    write_corpus(tmp_path)
    s = _settings(tmp_path, "edge")
    ingest(s, tmp_path, spec_of("sparse"))
    assert find(s, "the of and") == []
    ingest(_settings(tmp_path, "edge", "hy"), tmp_path, spec_of("hybrid"))
    assert find(_settings(tmp_path, "edge", "hy"), "the of and")  # the dense list still answers


# -- the cap and the filters (Hypothesis over one store) --------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("hybrid")
    write_corpus(root)
    s = _settings(root, "edge")
    rep = ingest(s, root)
    assert rep.errors == []
    return s


QUERIES = ["run a subprocess", "secure token", "wildcard file names", "event loop tasks", "x"]
GLOBS = ["docs/*", "docs/s*", "docs/asyncio.md", "docs/nothing*", "*.md"]


@settings(max_examples=40, deadline=None)
@given(
    q=st.sampled_from(QUERIES),
    k=st.integers(1, 12),
    per_source=st.one_of(st.none(), st.integers(1, 4)),
    globs=st.lists(st.sampled_from(GLOBS), max_size=2, unique=True),
    title=st.one_of(st.none(), st.sampled_from(["secrets", "asyncio", "nope"])),
)
def test_hits_respect_the_cap_and_every_filter(
    store: Settings,
    q: str,
    k: int,
    per_source: int | None,
    globs: list[str],
    title: str | None,
) -> None:
    where = (("title", title),) if title else ()
    hits = find(store, q, SearchOptions(k, per_source, tuple(globs), where))
    cap = per_source or DEFAULT_SEARCH.per_source
    assert len(hits) <= k
    per: dict[str, int] = {}
    for h in hits:
        per[h.source] = per.get(h.source, 0) + 1
        if globs:
            assert any(h.source == g or fnmatch.fnmatchcase(h.source, g) for g in globs)
        if title:
            assert h.title == title
    assert all(n <= cap for n in per.values())
    # nothing is left out that fits: fewer than k hits only when the filters allow no more
    allowed = [
        p
        for p in PAGES
        if (not globs or any(fnmatch.fnmatchcase(p, g) for g in globs))
        and (not title or p == f"docs/{title}.md")
    ]
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    if len(hits) < k and q != "x":
        assert len(per) <= len(allowed)


def test_where_headings_matches_any_heading_of_the_path(store: Settings) -> None:
    hits = find(store, "coroutine", SearchOptions(10, 10, (), (("headings", "Tasks"),)))
    assert hits
    assert all("Tasks" in h.headings for h in hits)


# -- the search config: spec data, the stamp, the hash -----------------------------------------


def test_the_search_config_is_part_of_the_spec_hash_and_round_trips() -> None:
    hashes = {spec_of(m).version for m in ("dense", "sparse", "hybrid")}
    assert len(hashes) == 3
    assert DEFAULT_SETTINGS.search == DEFAULT_SEARCH
    weighted = spec_of("hybrid", weights=(1.0, 2.0))
    assert weighted.version != DEFAULT_SPEC.version
    assert ingest_settings(weighted).unwrap().search.weights == (1.0, 2.0)


@pytest.mark.parametrize(
    ("search", "field"),
    [
        ({"mode": "semantic"}, "search.mode"),
        ({"weights": [1, 2, 3]}, "search.weights"),
        ({"bm25": {"k1": -1}}, "search.bm25.k1"),
        ({"rrf_k": 0}, "search.rrf_k"),
        ({"per_source": "two"}, "search.per_source"),
        ({"colour": "red"}, "unknown field 'colour'"),
    ],
)
def test_a_bad_search_config_is_invalid_spec_at_validate_and_ingest(
    tmp_path: Path, search: dict[str, object], field: str
) -> None:
    resources = {**DEFAULT_SPEC.resources, "search": search}
    spec = seal(DEFAULT_SPEC.model_copy(update={"resources": resources}))
    checked = ingest_settings(spec)
    assert isinstance(checked, Err)
    assert checked.error.code == "INVALID_SPEC"
    assert field in checked.error.msg
    f = tmp_path / "spec.json"
    f.write_text(serialize(spec, "json"))
    got = CliRunner().invoke(cli, ["spec", "validate", str(f)])
    assert got.exit_code == 2
    assert "INVALID_SPEC" in got.output
    got = CliRunner().invoke(
        cli, ["ingest", str(tmp_path), "--spec", str(f), "--data-dir", str(tmp_path / "d")]
    )
    assert got.exit_code == 2
    assert "INVALID_SPEC" in got.output
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").rglob("*.json"))


def test_changing_only_the_fusion_rewrites_the_stamp_and_embeds_nothing(tmp_path: Path) -> None:
    write_corpus(tmp_path)
    s = _settings(tmp_path, "edge")
    ingest(s, tmp_path)
    tuned = spec_of("hybrid", weights=(1.0, 3.0), per_source=1)
    rep = ingest(s, tmp_path, tuned)
    assert rep.errors == []
    assert rep.chunks_embedded == 0
    stamp = stamp_of(s)
    assert stamp is not None
    assert (stamp.search.weights, stamp.search.per_source) == ((1.0, 3.0), 1)
    hits = find(s, "token", 4)
    assert len({h.source for h in hits}) == len(hits)  # the new default cap: 1 per source


def test_a_dense_collection_refuses_a_hybrid_ingest_with_the_fix_and_still_searches(
    tmp_path: Path,
) -> None:
    """A collection made without sparse vectors (dense mode, or written before search configs
    existed) cannot take BM25 vectors: ingest says so (exit 2, the drop command in the fix);
    search keeps answering, densely."""
    write_corpus(tmp_path)
    s = _settings(tmp_path, "edge")
    ingest(s, tmp_path, spec_of("dense"))
    got = drive_err(
        lambda: run_ingest(
            s, DEFAULT_SETTINGS, [str(tmp_path / "docs")], base=tmp_path, embedder=EMB
        )
    )
    assert got.code == "INVALID_INPUT"
    assert "collection drop h --yes" in got.msg
    assert "search dense" in got.msg
    assert find(s, "secure token")


def test_a_stamp_written_before_search_configs_reads_as_dense_only() -> None:
    stamp = CollectionStamp(EMB.identity, DEFAULT_SETTINGS.chunking, DEFAULT_SEARCH)
    payload = stamp.payload()
    del payload["search"]
    old = CollectionStamp.from_payload(payload)
    assert old is not None
    assert old.search == DENSE_ONLY
    assert not old.fits(stamp)
    assert CollectionStamp.from_payload(stamp.payload()) == stamp


def drive_err(main: Callable[[], Coroutine[object, object, Result[T, ErrInfo]]]) -> ErrInfo:
    res = asyncio.run(main())
    assert isinstance(res, Err), res
    return res.error


# -- the CLI's flags ----------------------------------------------------------------------------


def test_search_flags_and_json_on_the_cli(tmp_path: Path) -> None:
    write_corpus(tmp_path)
    data = str(tmp_path / "data")
    runner = CliRunner()
    got = runner.invoke(cli, ["ingest", str(tmp_path / "docs"), "--data-dir", data])
    assert got.exit_code == 0, got.output
    got = runner.invoke(
        cli, ["search", "token", "-k", "3", "--per-source", "1", "--data-dir", data, "--json"]
    )
    assert got.exit_code == 0, got.output
    hits = json.loads(got.stdout)
    assert len({h["source"] for h in hits}) == len(hits)
    assert all(set(h) >= {"title", "headings"} for h in hits)
    got = runner.invoke(
        cli,
        [
            *("search", "process", "--source", "docs/s*", "--where", "title=subprocess"),
            *("--data-dir", data, "--json"),
        ],
    )
    assert got.exit_code == 0, got.output
    hits = json.loads(got.stdout)
    assert hits
    assert {h["source"] for h in hits} == {"docs/subprocess.md"}
    got = runner.invoke(cli, ["search", "token", "--data-dir", data])
    assert got.exit_code == 0
    assert "secrets" in got.stdout
    for bad in (["--where", "colour=red"], ["--where", "title"]):
        got = runner.invoke(cli, ["search", "token", "--data-dir", data, *bad])
        assert got.exit_code == 2
        assert len(got.output.strip().splitlines()) == 1


# -- laws of the parts --------------------------------------------------------------------------


words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(words, min_size=1, max_size=40), st.lists(words, max_size=8))
def test_bm25_is_deterministic_and_a_text_contains_its_own_query_terms(
    doc: list[str], extra: list[str]
) -> None:
    text = " ".join(doc)
    enc = Bm25Encoder(Bm25Params())
    [one] = enc.documents([text])
    assert enc.documents([" ".join(extra), text])[1] == one  # independent of the batch
    assert set(enc.query(text).indices) <= set(one.indices)
    assert all(v > 0 for v in one.values)


configs = st.builds(
    SearchConfig,
    mode=st.sampled_from(["dense", "sparse", "hybrid"]),
    bm25=st.builds(
        Bm25Params,
        k1=st.floats(0, 10),
        b=st.floats(0, 1),
        avg_len=st.floats(1, 1e6),
    ),
    rrf_k=st.integers(1, 10_000),
    weights=st.tuples(st.floats(0.01, 100), st.floats(0.01, 100)),
    candidates=st.integers(1, 1000),
    per_source=st.integers(1, 1000),
)


@given(configs)
def test_search_configs_round_trip_through_their_data(config: SearchConfig) -> None:
    assert SearchConfig.from_data(json.loads(json.dumps(config.to_data()))) == config


@given(st.lists(st.tuples(st.sampled_from(["title", "headings", "source"]), words), max_size=4))
def test_where_pairs_parse_back(pairs: list[tuple[str, str]]) -> None:
    assert parse_where([f"{n}={v}" for n, v in pairs]) == tuple(pairs)
