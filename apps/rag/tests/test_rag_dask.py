"""The distributed ingest on a real Dask LocalCluster of processes (one per module, shared):
the store equals a single-process run's, a killed worker or a SIGKILLed command changes
nothing in the end, a tampered spec is refused on the worker, tasks run twice and results
out of order are harmless (Hypothesis)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from distributed import Client, LocalCluster
from funcpipe.adapters.dask import DaskJob, DaskRunner, dask_client
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.testing.embeddings_server import EmbeddingsServer, Fault
from funcpipe_rag.adapters import EmbedderPort, RootsSource
from funcpipe_rag.adapters._dask import (
    WORKER_REGISTRY,
    DaskEmbedder,
    DaskShards,
    worker_jobs,
)
from funcpipe_rag.app import Cluster, Settings, open_backends, run_ingest, run_verify
from funcpipe_rag.cli import cli
from funcpipe_rag.domain import SyncContext
from funcpipe_rag.pipelines import (
    DEFAULT_SETTINGS,
    DEFAULT_SPEC,
    IngestReport,
    IngestRequest,
    Remote,
    ShardRunner,
    ingest,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rag_doubles import HashEmbedder, ReplayingShards, TwiceEmbedder, drive, stored
from typer.testing import CliRunner

pytestmark = pytest.mark.slow  # on the first Python of make test only (README)

T = TypeVar("T")

WORDS = [
    "retry",
    "backoff",
    "vector",
    "store",
    "chunk",
    "embed",
    "search",
    "stream",
    "policy",
    "spec",
    "commit",
]


def write_tree(root: Path, n: int = 24) -> Path:
    """``n`` Markdown pages (several chunks each), a JSONL file, an HTML page, an unreadable
    byte soup and a file no parser handles (skipped)."""
    docs = root / "docs"
    (docs / "sub").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        paras = [" ".join(WORDS[(i + j + k) % len(WORDS)] for k in range(120)) for j in range(4)]
        (docs / ("sub" if i % 3 else "") / f"p{i:03d}.md").write_text(
            f"# Page {i}\n\n" + "\n\n".join(paras) + "\n"
        )
    (docs / "notes.jsonl").write_text('{"text": "one note"}\n{"text": "two notes"}\nnot json\n')
    (docs / "page.html").write_text("<html><title>T</title><body><p>Hello html</p></body></html>")
    (docs / "bad.md").write_bytes(b"\xff\xfe\x00\x81 not utf-8 \xc3")
    (docs / "image.png").write_bytes(b"\x89PNG")
    return docs


def verified(s: Settings) -> bool:
    found, _ = drive(lambda: run_verify(s, repair=False))
    return found.ok


def single(root: Path, data: Path, **kw: object) -> IngestReport:
    s = Settings.model_construct(data_dir=data)
    return drive(lambda: run_ingest(s, DEFAULT_SETTINGS, [str(root / "docs")], base=root, **kw))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """One LocalCluster of two worker processes (with nannies) on loopback for the module."""
    with LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    ) as lc:
        yield lc.scheduler_address


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, IngestReport, dict[str, object]]:
    """The tree and the single-process run every distributed run is compared with."""
    root = tmp_path_factory.mktemp("tree")
    write_tree(root)
    data = root / "single"
    report = single(root, data)
    return root, report, stored(Settings.model_construct(data_dir=data))


def test_store_after_a_distributed_run_equals_a_single_process_one(
    cluster: str, clean: tuple[Path, IngestReport, dict[str, object]], tmp_path: Path
) -> None:
    root, want_report, want = clean
    assert want_report.chunks_embedded > 50
    assert want_report.errors
    s = Settings.model_construct(data_dir=tmp_path / "d")
    got = single(root, tmp_path / "d", cluster=Cluster(address=cluster))
    assert got.to_json() == want_report.to_json()
    assert stored(s) == want
    assert verified(s)
    again = single(root, tmp_path / "d", cluster=Cluster(address=cluster))
    assert again.chunks_embedded == again.chunks_upserted == 0
    assert again.sources_unchanged == want_report.sources_seen - len(want_report.errors)


def test_an_edit_and_a_prune_on_the_cluster_match_the_single_process_run(
    cluster: str, tmp_path: Path
) -> None:
    root = tmp_path / "t"
    docs = write_tree(root, 9)
    a, b = tmp_path / "a", tmp_path / "b"
    single(root, a)
    single(root, b, cluster=Cluster(address=cluster))
    page = docs / "sub" / "p001.md"
    # the body only: a new title would change the context line every chunk is embedded with
    page.write_text(page.read_text() + "\nA new line, edited in.\n")
    (docs / "sub" / "p002.md").unlink()
    da = single(root, a, prune=True, dry_run=True)
    db = single(root, b, prune=True, dry_run=True, cluster=Cluster(address=cluster))
    assert da.outcomes == db.outcomes  # the same plan, and nothing written (next lines)
    assert db.chunks_embedded > 0
    ra = single(root, a, prune=True)
    rb = single(root, b, prune=True, cluster=Cluster(address=cluster))
    assert ra.to_json() == rb.to_json()
    assert rb.sources_updated == 1
    assert rb.sources_deleted == 1
    assert 0 < rb.chunks_embedded < 4  # only the edited chunks are embedded again
    sa, sb = Settings.model_construct(data_dir=a), Settings.model_construct(data_dir=b)
    assert stored(sa) == stored(sb)
    assert verified(sb)


def _remote_run(
    root: Path,
    data: Path,
    address: str,
    wrap: Callable[[ShardRunner, DaskEmbedder], tuple[ShardRunner, object]],
    *,
    tamper: Callable[[DaskJob], DaskJob] | None = None,
) -> Result[IngestReport, ErrInfo]:
    """An ingest through the real cluster ports, wrapped (or their shard job tampered)."""
    s = Settings.model_construct(data_dir=data)

    async def _run() -> Result[IngestReport, ErrInfo]:
        async with open_backends(s, "funcpipe") as opened:
            if isinstance(opened, Err):
                return opened
            b = opened.value
            async with dask_client(address) as c:
                if isinstance(c, Err):
                    return c
                runner = DaskRunner(c.value, allowed_registries={WORKER_REGISTRY}, max_in_flight=4)
                ident = b.embedder.identity
                shard_job, embed_job = worker_jobs(DEFAULT_SETTINGS, ident)
                if tamper is not None:
                    shard_job = tamper(shard_job)
                ctx = SyncContext(ident, DEFAULT_SPEC.version, DEFAULT_SETTINGS.chunking)
                shards, emb = wrap(
                    DaskShards(runner, shard_job, ctx), DaskEmbedder(runner, embed_job, ident)
                )
                remote = Remote(shards, emb, shard_size=3)  # type: ignore[arg-type]
                source = RootsSource([str(root / "docs")], base=root)
                request = IngestRequest(source, source.root_keys())
                return await ingest(DEFAULT_SETTINGS, b.index, b.embedder, request, remote=remote)()

    return asyncio.run(_run())


def test_a_tampered_spec_is_refused_on_the_worker_and_nothing_is_written(
    cluster: str, clean: tuple[Path, IngestReport, dict[str, object]], tmp_path: Path
) -> None:
    root = clean[0]

    def tamper(job: DaskJob) -> DaskJob:
        data = json.loads(job.spec_json)
        data["ops"][0]["params"]["chunk_chars"] = 17  # the hashes still say 800
        return DaskJob(json.dumps(data), job.registry, job.allow_list)

    got = _remote_run(root, tmp_path / "d", cluster, lambda s, e: (s, e), tamper=tamper)
    assert isinstance(got, Err)
    assert got.error.code == codes.HASH_MISMATCH
    s = Settings.model_construct(data_dir=tmp_path / "d")

    async def _scan() -> Result[object, ErrInfo]:
        async with open_backends(s, "funcpipe", embedder=EmbedderPort(HashEmbedder(4))) as b:
            assert isinstance(b, Ok)
            return await b.value.index.scan()()

    scanned = asyncio.run(_scan())
    assert isinstance(scanned, Err)
    assert scanned.error.code == codes.NOT_FOUND


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    twice=st.sets(st.integers(0, 9), min_size=1, max_size=6),
    seed=st.integers(0, 2**32 - 1),
    embed_twice=st.booleans(),
)
def test_tasks_run_twice_and_results_out_of_order_leave_the_clean_store(
    cluster: str,
    clean: tuple[Path, IngestReport, dict[str, object]],
    tmp_path_factory: pytest.TempPathFactory,
    twice: set[int],
    seed: int,
    embed_twice: bool,
) -> None:
    root, want_report, want = clean
    data = tmp_path_factory.mktemp("replay")
    wrapped: list[ReplayingShards] = []

    def wrap(s: ShardRunner, e: DaskEmbedder) -> tuple[ShardRunner, object]:
        r = ReplayingShards(s, twice, seed)
        wrapped.append(r)
        return r, (TwiceEmbedder(e) if embed_twice else e)

    got = _remote_run(root, data, cluster, wrap)
    assert isinstance(got, Ok), got
    # this run drives the pipeline directly (no app walk count): compare all but the skips
    skip = "sources_skipped"
    assert {k: v for k, v in got.value.to_json().items() if k != skip} == {
        k: v for k, v in want_report.to_json().items() if k != skip
    }
    assert stored(Settings.model_construct(data_dir=data)) == want
    assert wrapped[0].duplicates == len(twice)  # every drawn shard really ran twice


def test_a_worker_killed_mid_run_leaves_the_same_store(cluster: str, tmp_path: Path) -> None:
    root = tmp_path / "t"
    write_tree(root, 90)
    want_report = single(root, tmp_path / "single")
    want = stored(Settings.model_construct(data_dir=tmp_path / "single"))
    with Client(cluster) as client:  # type: ignore[no-untyped-call]
        pids = sorted(client.run(os.getpid).values())
    s = Settings.model_construct(data_dir=tmp_path / "d")
    killed: list[int] = []

    async def _run() -> Result[IngestReport, ErrInfo]:
        from funcpipe_rag.app import ingest_events

        events = ingest_events(
            s, DEFAULT_SETTINGS, [str(root / "docs")], base=root, cluster=Cluster(address=cluster)
        )
        report = IngestReport()
        async for item in events():
            if isinstance(item, Err):
                return item
            report.apply(item.value)
            if not killed and report.sources_added:
                os.kill(pids[0], signal.SIGKILL)  # its tasks in flight are run again
                killed.append(pids[0])
        return Ok(report)

    got = drive(_run)
    assert killed
    assert got.to_json() == want_report.to_json()
    assert stored(s) == want
    assert verified(s)
    with Client(cluster) as client:  # type: ignore[no-untyped-call]
        client.wait_for_workers(2, timeout=60)
        assert pids[0] not in client.run(os.getpid).values()  # the nanny started a new one


def test_workers_flag_runs_a_local_cluster_and_prints_the_same_json(tmp_path: Path) -> None:
    root = tmp_path / "t"
    write_tree(root, 6)
    outs = []
    for flags in ([], ["--workers", "2"]):
        cmd = [sys.executable, "-m", "funcpipe_rag.cli", "ingest", "docs", "--json"]
        data = ["--data-dir", str(tmp_path / f"d{len(flags)}")]
        p = subprocess.run(cmd + data + flags, cwd=root, capture_output=True, text=True)
        assert p.returncode == 4, p.stderr  # bad.md and notes.jsonl's broken line fail
        outs.append(json.loads(p.stdout))
    assert outs[0] == outs[1]
    a = stored(Settings.model_construct(data_dir=tmp_path / "d0"))
    assert a == stored(Settings.model_construct(data_dir=tmp_path / "d2"))


def test_the_flags_without_the_extra_name_it_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # find_spec: not installed
    for flags in (["--workers", "2"], ["--dask", "tcp://127.0.0.1:1"]):
        res = CliRunner().invoke(cli, ["ingest", str(tmp_path), *flags])
        assert res.exit_code == 2
        assert 'pip install "funcpipe-rag[dask]"' in res.output
    res = CliRunner().invoke(cli, ["ingest", str(tmp_path), "--workers", "2", "--dask", "x"])
    assert res.exit_code == 2
    assert "not both" in res.output


def _vectors(texts: list[str]) -> list[list[float]]:
    h = HashEmbedder(8)
    return [h.vector(t) or [1.0] + [0.0] * 7 for t in texts]


def test_the_command_sigkilled_mid_run_then_run_again_converges(tmp_path: Path) -> None:
    import psutil  # type: ignore[import-untyped]

    root = tmp_path / "t"
    write_tree(root, 120)
    slow = Fault.slow(0.2)
    with EmbeddingsServer(_vectors, fault_for=lambda texts, attempt: slow) as server:
        env = {
            **os.environ,
            "FUNCPIPE_EMBED_URL": server.base_url,
            "FUNCPIPE_EMBED_MODEL": "test-embedding-model",
            "FUNCPIPE_EMBED_DIM": "8",
        }
        cmd = [sys.executable, "-m", "funcpipe_rag.cli", "ingest", "docs", "--json"]

        def run(data: str, *flags: str) -> subprocess.Popen[str]:
            return subprocess.Popen(
                [*cmd, "--data-dir", data, *flags],
                cwd=root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )

        victim = run("d", "--workers", "2")
        while len(server.requests) < 9 and victim.poll() is None:
            time.sleep(0.05)  # the crash point: a few embedding requests answered
        kids = psutil.Process(victim.pid).children(recursive=True)
        victim.send_signal(signal.SIGKILL)
        victim.communicate()
        assert victim.returncode == -signal.SIGKILL  # it was killed mid-run, not finished
        _, gone_late = psutil.wait_procs(kids, timeout=60)
        assert not gone_late  # the LocalCluster's processes do not outlive the command
        again = run("d", "--workers", "2")
        out, err = again.communicate()
        assert again.returncode == 4, err
        clean = run("c")
        clean_out, _ = clean.communicate()
    got, want = json.loads(out), json.loads(clean_out)
    assert got["errors"] == want["errors"]
    assert got["sources_seen"] == want["sources_seen"]
    assert got["chunks_embedded"] < want["chunks_embedded"]  # the first run had written some
    s, c = (
        Settings.model_construct(data_dir=root / "d"),
        Settings.model_construct(data_dir=root / "c"),
    )
    assert stored(s) == stored(c)
    assert verified(s)


def test_an_unreachable_scheduler_is_a_backend_error_naming_it(tmp_path: Path) -> None:
    from funcpipe_rag.cli import exit_code_for

    s = Settings.model_construct(data_dir=tmp_path / "d")
    where = Cluster(address="tcp://127.0.0.1:9", timeout_s=1.0)
    got = asyncio.run(
        run_ingest(s, DEFAULT_SETTINGS, [str(tmp_path)], base=tmp_path, cluster=where)
    )
    assert isinstance(got, Err)
    assert got.error.code == codes.NETWORK
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in got.error.msg
    assert exit_code_for(got.error) == 3
