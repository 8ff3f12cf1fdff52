"""Ingest v2 (issue 11): keys of odd names, prune protection, resilience per request, the
collection's embedder stamp, lazy collection creation, dry runs that refuse, disk space.

Real parts: real files in tmp dirs, Qdrant Edge, the loopback embeddings server.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from funcpipe.policies import ChunkPolicy
from funcpipe.result import Err, ErrInfo, Ok, Result
from funcpipe.specs import PipelineSpec, batch_map_op, flat_map_op, map_op, pipeline_spec
from funcpipe.testing.embeddings_server import EmbeddingsServer, Fault
from funcpipe_rag.adapters import EmbedderPort, _walk
from funcpipe_rag.app import Settings, run_ingest, run_search
from funcpipe_rag.domain import Document
from funcpipe_rag.pipelines import (
    DEFAULT_SETTINGS,
    DESCRIBE_ENTRIES,
    DOCS_ID,
    EMBED_ID,
    PLAN_ID,
    READ_ID,
    WRITE_ID,
    IngestReport,
    ingest_settings,
)
from hypothesis import given
from hypothesis import strategies as st
from rag_doubles import HashEmbedder, fast_retry_spec

T = TypeVar("T")

HASH = EmbedderPort(HashEmbedder(8))


def run(main: Callable[[], Coroutine[object, object, T]]) -> T:
    return asyncio.run(main())


def settings_for(tmp: Path, collection: str = "v2") -> Settings:
    return Settings.model_construct(data_dir=tmp / "data", collection=collection)


def ingest(
    tmp: Path, roots: list[str], *, embedder: EmbedderPort = HASH, **kw: object
) -> Result[IngestReport, ErrInfo]:
    settings = kw.pop("settings", None) or settings_for(tmp)
    assert isinstance(settings, Settings)
    return run(
        lambda: run_ingest(settings, DEFAULT_SETTINGS, roots, base=tmp, embedder=embedder, **kw)  # type: ignore[arg-type]
    )


def ok(res: Result[T, ErrInfo]) -> T:
    assert isinstance(res, Ok), res
    return res.value


def pages(root: Path, n: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        (root / f"f{i:02d}.md").write_text(f"# Page {i}\n\nSome text about topic {i}.\n")


# -- finding 1: a name that is not UTF-8 ------------------------------------------------------


@given(st.text(alphabet=st.sampled_from(["a", "%", "é", "\udce9", "\udc80", "/", "2", "5"])))
def test_escaped_names_are_valid_utf8_and_reversible(name: str) -> None:
    from funcpipe_rag.domain import escape_name, unescape_name

    key = escape_name(name)
    key.encode("utf-8")  # never raises
    assert unescape_name(key) == name
    if "%" not in name and not any(0xDC80 <= ord(c) <= 0xDCFF for c in name):
        assert key == name


def test_a_non_utf8_file_name_loses_nothing_and_prune_deletes_nothing(tmp_path: Path) -> None:
    docs = tmp_path / "d"
    pages(docs, 40)
    first = ok(ingest(tmp_path, [str(docs)]))
    assert (first.sources_added, first.errors) == (40, [])
    bad = os.fsencode(docs) + b"/f20\xe9.md"
    with open(bad, "wb") as f:
        f.write(b"# Latin-1 name\n\nThe name of this file is not UTF-8.\n")
    again = ok(ingest(tmp_path, [str(docs)], prune=True))
    assert again.errors == []
    assert (again.sources_seen, again.sources_deleted) == (41, 0)
    assert (again.sources_added, again.sources_unchanged) == (1, 40)
    plan = ok(ingest(tmp_path, [str(docs)], prune=True, dry_run=True))
    keys = {o.source for o in plan.outcomes}
    assert "d/f20%E9.md" in keys  # text, and it maps back to the bytes
    assert len(keys) == 41
    from funcpipe_rag.domain import unescape_name

    assert os.fsencode(unescape_name("d/f20%E9.md")) == b"d/f20\xe9.md"


# -- finding 2: prune protects what failed to list --------------------------------------------


@pytest.fixture
def deny_listing(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Folders (absolute paths) whose listing raises PermissionError (tests run as root)."""
    denied: set[str] = set()
    real = _walk._list_dir

    def listing(path: str) -> list[_walk._Entry]:
        if os.path.abspath(path) in denied:
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(_walk, "_list_dir", listing)
    return denied


def test_prune_keeps_everything_under_a_root_that_failed_to_list(
    tmp_path: Path, deny_listing: set[str]
) -> None:
    docs = tmp_path / "docs"
    pages(docs, 3)
    ok(ingest(tmp_path, [str(docs)]))
    deny_listing.add(str(docs))
    for dry in (True, False):
        got = ok(ingest(tmp_path, [str(docs)], prune=True, dry_run=dry))
        assert [(e.source, e.code) for e in got.errors] == [("docs", "PERMISSION_DENIED")]
        assert got.sources_deleted == 0


def test_prune_keeps_everything_under_a_subfolder_that_failed_to_list(
    tmp_path: Path, deny_listing: set[str]
) -> None:
    docs = tmp_path / "docs"
    pages(docs, 2)
    pages(docs / "sub", 3)
    ok(ingest(tmp_path, [str(docs)]))
    (docs / "f02.md").unlink()  # really gone: pruned
    deny_listing.add(str(docs / "sub"))
    got = ok(ingest(tmp_path, [str(docs)], prune=True))
    assert [(e.source, e.code) for e in got.errors] == [("docs/sub", "PERMISSION_DENIED")]
    assert got.sources_deleted == 1
    deny_listing.clear()
    after = ok(ingest(tmp_path, [str(docs)], prune=True))
    assert (after.sources_unchanged, after.sources_deleted, after.errors) == (4, 0, [])


def test_prune_keeps_everything_under_a_root_that_was_moved_away(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    pages(docs, 3)
    ok(ingest(tmp_path, [str(docs)]))
    docs.rename(tmp_path / "elsewhere")
    for dry in (True, False):
        got = ok(ingest(tmp_path, [str(docs)], prune=True, dry_run=dry))
        assert [(e.source, e.code) for e in got.errors] == [("docs", "NOT_FOUND")]
        assert got.sources_deleted == 0
        assert all(o.action != "deleted" for o in got.outcomes)


# -- finding 3: each embedding request is retried on its own ----------------------------------


def request_spec(*, embed_batch: int = 4) -> PipelineSpec:
    """The default pipeline with small requests and retries without waiting."""
    return fast_retry_spec(
        "rag-v2-requests",
        attempts=5,
        group=32,
        embed_batch=embed_batch,
        concurrency=2,
        write_group=64,
    )


def long_pages(root: Path, n: int, paras: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        body = "\n\n".join(
            f"Paragraph {j} of page {i}: " + f"word{i}x{j} " * 12 for j in range(paras)
        )
        (root / f"p{i}.md").write_text(f"# Page {i}\n\n{body}\n")


def remote(tmp: Path, server: EmbeddingsServer, dim: int, collection: str = "v2") -> Settings:
    return Settings.model_construct(
        data_dir=tmp / "data",
        collection=collection,
        embed_url=server.base_url,
        embed_model=server.model,
        embed_dim=dim,
    )


def test_each_embedding_request_is_retried_alone_and_never_resent(tmp_path: Path) -> None:
    long_pages(tmp_path / "docs", 5, 30)
    hasher = HashEmbedder(16)
    embedded: Counter[str] = Counter()
    calls: list[int] = []

    def embed_fn(texts: list[str]) -> list[list[float]]:
        calls.append(len(texts))  # only requests that got no fault reach here
        embedded.update(texts)
        return [hasher.vector(t) or [1.0] + [0.0] * 15 for t in texts]

    with EmbeddingsServer(embed_fn, model="hash-16") as server:
        for _ in range(30):  # every 10th request answers 503
            server.push(*[Fault.slow(0)] * 9, Fault.status_error(503))
        settings = remote(tmp_path, server, 16)
        spec = request_spec()
        report = ok(
            run(
                lambda: run_ingest(
                    settings,
                    ingest_settings(spec).unwrap(),
                    [str(tmp_path / "docs")],
                    base=tmp_path,
                )
            )
        )
        failed = len(server.requests) - len(calls)
    assert report.errors == []
    assert report.sources_added == 5
    assert report.chunks_embedded == sum(embedded.values()) >= 150
    assert len(calls) >= 30  # many requests, so several drew a 503
    assert failed >= 3
    assert set(embedded.values()) == {1}  # each successful request's texts were sent once
    assert failed <= len(server.requests) // 10 + 1  # only the failed ones were sent again


# -- findings 4, 5, 7: the collection's stamp; created only once the embedder answered -------


def hash_fn(dim: int) -> Callable[[list[str]], list[list[float]]]:
    hasher = HashEmbedder(dim)
    return lambda texts: [hasher.vector(t) or [1.0] + [0.0] * (dim - 1) for t in texts]


def refused(res: Result[object, ErrInfo]) -> ErrInfo:
    from funcpipe_rag.cli import exit_code_for

    assert isinstance(res, Err), res
    assert exit_code_for(res.error) == 2, res.error
    assert "\n" not in res.error.msg
    return res.error


def test_another_embedder_of_the_same_dimension_is_refused_by_ingest_and_search(
    tmp_path: Path,
) -> None:
    pages(tmp_path / "docs", 3)
    docs = [str(tmp_path / "docs")]
    with EmbeddingsServer(hash_fn(16)) as server:
        first = remote(tmp_path, server, 16).model_copy(update={"embed_model": "model-a"})
        ok(run(lambda: run_ingest(first, DEFAULT_SETTINGS, docs, base=tmp_path)))
        other = first.model_copy(update={"embed_model": "model-b"})
        for dry in (True, False):
            e = refused(
                run(lambda: run_ingest(other, DEFAULT_SETTINGS, docs, base=tmp_path, dry_run=dry))  # noqa: B023
            )
            assert "model-a@16" in e.msg
            assert "model-b@16" in e.msg
            assert "--collection" in e.msg
        e = refused(run(lambda: run_search(other, "topic", 3)))
        assert "model-a@16" in e.msg
        assert "model-b@16" in e.msg
        assert ok(run(lambda: run_search(first, "topic 2", 3)))  # the right one still works
        # nothing was mixed in: a re-run with the first embedder has nothing to do
        again = ok(run(lambda: run_ingest(first, DEFAULT_SETTINGS, docs, base=tmp_path)))
        assert (again.sources_unchanged, again.chunks_embedded) == (3, 0)


def test_a_dimension_mismatch_is_refused_by_the_dry_run_as_by_the_real_run(
    tmp_path: Path,
) -> None:
    pages(tmp_path / "docs", 3)
    docs = [str(tmp_path / "docs")]
    ok(ingest(tmp_path, docs, embedder=EmbedderPort(HashEmbedder(16))))
    for dry in (True, False):
        e = refused(ingest(tmp_path, docs, embedder=EmbedderPort(HashEmbedder(8)), dry_run=dry))
        assert "16" in e.msg
        assert "8" in e.msg


def test_a_wrong_dimension_setting_creates_no_collection_that_traps_later_runs(
    tmp_path: Path,
) -> None:
    pages(tmp_path / "docs", 3)
    docs = [str(tmp_path / "docs")]
    with EmbeddingsServer(hash_fn(16)) as server:
        wrong = remote(tmp_path, server, 64)  # the model cannot make 64-d vectors
        bad = run(lambda: run_ingest(wrong, DEFAULT_SETTINGS, docs, base=tmp_path))
        assert isinstance(bad, Ok)
        assert bad.value.backend_failed or bad.value.errors
        right = remote(tmp_path, server, 16)
        good = ok(run(lambda: run_ingest(right, DEFAULT_SETTINGS, docs, base=tmp_path)))
        assert (good.sources_added, good.errors) == (3, [])


# -- finding 6: a full disk is an error, never a crash ----------------------------------------

MiB = 1024 * 1024


def test_too_little_free_space_is_a_coded_error_and_writes_nothing(tmp_path: Path) -> None:
    from funcpipe_rag.app import run_verify
    from funcpipe_rag.cli import exit_code_for

    pages(tmp_path / "docs", 5)
    docs = [str(tmp_path / "docs")]
    settings = settings_for(tmp_path)
    asked: list[Path] = []

    def small(path: Path) -> int:
        asked.append(path)
        return 6 * MiB

    for dry in (False, True):
        res = run(
            lambda: run_ingest(
                settings,
                DEFAULT_SETTINGS,
                docs,
                base=tmp_path,
                embedder=HASH,
                free_bytes=small,
                dry_run=dry,  # noqa: B023
            )
        )
        if dry:  # a dry run writes nothing, so it needs no room to write
            assert isinstance(res, Ok)
            continue
        assert isinstance(res, Err)
        assert (res.error.code, exit_code_for(res.error)) == ("NO_SPACE", 3)
        assert "\n" not in res.error.msg
    assert asked
    assert all(p == settings.data_dir for p in asked)
    # nothing was created: with room, everything is added
    full = ok(ingest(tmp_path, docs))
    assert (full.sources_added, full.errors) == (5, [])
    # a store on a full disk is never opened (Edge would die of SIGBUS in its memory maps)
    for res2 in (
        run(lambda: run_verify(settings, repair=False, embedder=HASH, free_bytes=lambda _: MiB)),
        run(lambda: run_search(settings, "topic", 3, embedder=HASH, free_bytes=lambda _: MiB)),
    ):
        assert isinstance(res2, Err)
        assert (res2.error.code, exit_code_for(res2.error)) == ("NO_SPACE", 3)


def test_space_running_out_mid_run_stops_it_with_the_store_consistent(tmp_path: Path) -> None:
    from funcpipe_rag.app import run_verify

    pages(tmp_path / "docs", 100)
    docs = [str(tmp_path / "docs")]
    settings = settings_for(tmp_path)
    calls = [0]

    def shrinking(_: Path) -> int:
        calls[0] += 1
        return 1024 * MiB if calls[0] <= 3 else 0  # open, create, one group; then full

    res = run(
        lambda: run_ingest(
            settings, DEFAULT_SETTINGS, docs, base=tmp_path, embedder=HASH, free_bytes=shrinking
        )
    )
    assert isinstance(res, Err)
    assert res.error.code == "NO_SPACE"
    found, _ = ok(run(lambda: run_verify(settings, repair=False, embedder=HASH)))
    assert found.ok
    assert 0 < found.sources < 100
    rest = ok(ingest(tmp_path, docs))
    assert rest.sources_added == 100 - found.sources


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 6 MiB tmpfs (needs mount privileges; skipped without them)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = "from funcpipe_rag.cli import main; main()"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNCPIPE_")}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


def test_a_real_full_disk_gives_exit_3_and_one_line_never_a_signal(
    tmp_path: Path, tiny_tmpfs: Path
) -> None:
    long_pages(tmp_path / "docs", 80, 30)  # more than 6 MiB once stored
    data = str(tiny_tmpfs / "data")
    got = cli("ingest", "docs", "--data-dir", data, "--json", cwd=tmp_path)
    assert got.returncode == 3, got
    assert len(got.stderr.strip().splitlines()) == 1
    assert "NO_SPACE" in got.stderr
    with open(tiny_tmpfs / "filler", "wb") as f:  # fill the disk to the last byte
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    for args in (("verify",), ("search", "topic")):
        got = cli(*args, "--data-dir", data, cwd=tmp_path)
        assert got.returncode == 3, got
        assert len(got.stderr.strip().splitlines()) == 1


# -- finding 8: a spec whose ops do not fit is INVALID_SPEC, never a silent run or a traceback


@pytest.mark.parametrize(
    ("ops", "names"),
    [
        ([READ_ID, DOCS_ID], [DOCS_ID, "Document"]),
        ([DOCS_ID, READ_ID], [DOCS_ID, "RawSource"]),
        ([READ_ID, DOCS_ID, EMBED_ID, PLAN_ID, WRITE_ID], [DOCS_ID, EMBED_ID]),
    ],
)
def test_a_spec_whose_ops_do_not_fit_is_invalid_at_validate_and_ingest(
    tmp_path: Path, ops: list[str], names: list[str]
) -> None:
    from funcpipe.specs import serialize
    from funcpipe_rag.cli import cli as app_cli
    from typer.testing import CliRunner

    def op(func_id: str) -> object:
        entry = DESCRIBE_ENTRIES[func_id]
        if entry.kind == "Map":
            return map_op(entry)
        if entry.kind == "FlatMap":
            return flat_map_op(entry)
        return batch_map_op(entry, chunk=ChunkPolicy(max_units=4, max_delay_ms=0))

    spec = pipeline_spec("misfit", [op(i) for i in ops])  # type: ignore[misc]
    path = tmp_path / "misfit.yaml"
    path.write_text(serialize(spec, "yaml"))
    pages(tmp_path / "docs", 2)
    runner = CliRunner()
    for args in (
        ["spec", "validate", str(path)],
        ["ingest", str(tmp_path / "docs"), "--spec", str(path), "--data-dir", str(tmp_path / "d")],
    ):
        got = runner.invoke(app_cli, args)
        assert got.exit_code == 2, got.output
        err = got.stderr if hasattr(got, "stderr") else got.output
        assert "[INVALID_SPEC]" in err
        assert "Traceback" not in err
        assert all(n in err for n in names), err


# -- bench (b): an unchanged re-run parses nothing and loads no model -------------------------


def test_an_unchanged_rerun_parses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from funcpipe_rag.domain import parse_text

    pages(tmp_path / "docs", 4)
    (tmp_path / "docs" / "page.html").write_text("<html><body><h1>T</h1><p>Body.</p></body></html>")
    docs = [str(tmp_path / "docs")]
    ok(ingest(tmp_path, docs))
    parsed: list[str] = []
    real = parse_text

    def counting(key: str, text: str, kind: str) -> list[Result[Document, ErrInfo]]:
        parsed.append(key)
        return real(key, text, kind)

    monkeypatch.setattr("funcpipe_rag.pipelines._stages.parse_text", counting)
    again = ok(ingest(tmp_path, docs))
    assert (again.sources_unchanged, again.chunks_upserted, parsed) == (5, 0, [])
    (tmp_path / "docs" / "f02.md").write_text("# Page 2\n\nNew text.\n")
    edited = ok(ingest(tmp_path, docs))
    assert (edited.sources_updated, edited.sources_unchanged) == (1, 4)
    assert parsed == ["docs/f02.md"]
