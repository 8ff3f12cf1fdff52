"""funcpipe.adapters.dask on a real LocalCluster of processes, and its laws in process.

The cluster tests share one LocalCluster of 2 worker processes (module fixture). The demo
registry (tests/dask_support) is importable on the workers because spawned workers inherit
``sys.path``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import random
import sys
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dask
import pytest
from funcpipe.adapters.dask import (
    DaskJob,
    DaskRunner,
    Partition,
    PartitionResult,
    Plain,
    dask_client,
    run_partition,
)
from funcpipe.result import Err, ErrInfo, Ok, Result
from funcpipe.specs import PipelineSpec, map_op, pipeline_spec, serialize, sink_op
from hypothesis import given, settings
from hypothesis import strategies as st

SUPPORT = Path(__file__).resolve().parent / "dask_support"
sys.path.insert(0, str(SUPPORT))

demo = importlib.import_module("funcpipe_dask_demo_ops")

REGISTRY = "funcpipe_dask_demo_ops:registry"
ALLOWED = {REGISTRY}
OPS = ("double", "die_once", "write")


def make_spec(out: Path, die_ids: Sequence[str] = (), times: int = 1) -> PipelineSpec:
    ops = [map_op(demo.registry["double"])]
    if die_ids:
        params = {"dir": str(out), "ids": list(die_ids), "times": times}
        ops.append(map_op(demo.registry["die_once"], params=params))
    ops.append(sink_op(demo.registry["write"], params={"dir": str(out)}))
    return pipeline_spec("dask-demo", ops)


def job_of(spec: PipelineSpec) -> DaskJob:
    return DaskJob(serialize(spec, "json"), REGISTRY, OPS)


def partitions(n_items: int, per: int) -> list[Partition]:
    items: list[Plain] = [{"id": f"i{i:03d}", "n": i} for i in range(n_items)]
    return [
        Partition(f"p{j:02d}", tuple(items[j * per : (j + 1) * per]))
        for j in range((n_items + per - 1) // per)
    ]


def stored(out: Path) -> dict[str, object]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}


def writes(out: Path) -> list[str]:
    log = out / "writes.log"
    return log.read_text().split() if log.exists() else []


# ---- in process: the task function and the laws under re-execution ------------------------


def err(encoded: Mapping[str, object]) -> Mapping[str, object]:
    """The ``err`` part of an encoded Result (fails the test if it is not an error)."""
    e = encoded["err"]
    assert isinstance(e, Mapping)
    return e


def test_run_partition_gives_plain_encoded_results(tmp_path: Path) -> None:
    job = job_of(make_spec(tmp_path))
    items: list[Plain] = [{"id": "a", "n": 1}, {"id": "b", "n": "x"}]
    got = run_partition(job.spec_json, job.registry, OPS, [REGISTRY], "p0", items)
    assert got[0] == {"ok": {"id": "a", "n": 2}}
    assert err(got[1])["code"] == "INVALID_INPUT"
    assert err(got[1])["path"] == ["b"]
    assert stored(tmp_path) == {"a": {"id": "a", "n": 2}}


def test_a_tampered_spec_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    job = job_of(make_spec(tmp_path))
    tampered = job.spec_json.replace('"dask-demo"', '"dask-demo2"')
    assert tampered != job.spec_json
    got = run_partition(tampered, job.registry, OPS, [REGISTRY], "p0", [{"id": "a", "n": 1}])
    assert [err(g)["code"] for g in got] == ["HASH_MISMATCH"]
    assert err(got[0])["path"] == ["p0"]
    assert stored(tmp_path) == {}


def test_a_registry_outside_the_allow_list_is_never_imported(tmp_path: Path) -> None:
    job = job_of(make_spec(tmp_path))
    got = run_partition(job.spec_json, "os:system", OPS, [REGISTRY], "p0", [])
    assert err(got[0])["code"] == "UNALLOWED_OP"
    got = run_partition(
        job.spec_json, "no_such_module:registry", OPS, ["no_such_module:registry"], "p1", []
    )
    assert err(got[0])["code"] == "RECONSTRUCT_FAIL"


@settings(max_examples=60, deadline=None)
@given(
    n_items=st.integers(0, 30),
    per=st.integers(1, 8),
    reruns=st.lists(st.integers(0, 10), max_size=6),
    seed=st.integers(0, 2**16),
)
def test_law_rerun_and_reordered_tasks_leave_the_clean_store(
    tmp_path_factory: pytest.TempPathFactory,
    n_items: int,
    per: int,
    reruns: list[int],
    seed: int,
) -> None:
    """At-least-once execution is harmless: tasks run twice, in any order, give the store and
    the per-partition results of one clean run, with no duplicate."""
    clean_dir = tmp_path_factory.mktemp("clean")
    drawn_dir = tmp_path_factory.mktemp("drawn")
    parts = partitions(n_items, per)

    def run(out: Path, order: Sequence[Partition]) -> dict[str, list[Any]]:
        job = job_of(make_spec(out))
        results: dict[str, list[Any]] = {}
        for p in order:
            got = run_partition(job.spec_json, job.registry, OPS, [REGISTRY], p.key, list(p.items))
            assert results.setdefault(p.key, got) == got  # a re-run gives the same results
        return results

    clean = run(clean_dir, parts)
    order = parts + [parts[i % len(parts)] for i in reruns] if parts else []
    random.Random(seed).shuffle(order)
    drawn = run(drawn_dir, order)
    assert drawn == clean
    assert stored(drawn_dir) == stored(clean_dir)
    assert len(stored(drawn_dir)) == n_items
    assert sorted(set(writes(drawn_dir))) == sorted(stored(drawn_dir))


# ---- on a real LocalCluster of processes ------------------------------------------------


@pytest.fixture(scope="module")
def cluster_loop() -> Iterator[tuple[asyncio.AbstractEventLoop, Any]]:
    """One event loop and one LocalCluster client for the module's cluster tests."""
    loop = asyncio.new_event_loop()
    cm = dask_client(n_workers=2)
    with dask.config.set({"distributed.scheduler.allowed-failures": 2}):
        opened = loop.run_until_complete(cm.__aenter__())
        assert isinstance(opened, Ok), opened
        yield loop, opened.value
        loop.run_until_complete(cm.__aexit__(None, None, None))
    loop.close()


def drive(
    loop: asyncio.AbstractEventLoop, runner: DaskRunner, job: DaskJob, parts: Sequence[Partition]
) -> list[Result[PartitionResult, ErrInfo]]:
    async def collect() -> list[Result[PartitionResult, ErrInfo]]:
        it: AsyncIterator[Result[PartitionResult, ErrInfo]] = runner.run(job, parts)()
        return [r async for r in it]

    return loop.run_until_complete(collect())


def by_key(results: Sequence[Result[PartitionResult, ErrInfo]]) -> dict[str, tuple[Any, ...]]:
    out: dict[str, tuple[Any, ...]] = {}
    for r in results:
        assert isinstance(r, Ok), r
        assert r.value.key not in out
        out[r.value.key] = r.value.results
    return out


def local(job: DaskJob, parts: Sequence[Partition]) -> dict[str, tuple[Any, ...]]:
    from funcpipe.adapters.dask._wire import decode_result

    return {
        p.key: tuple(
            decode_result(r, p.key)
            for r in run_partition(
                job.spec_json, job.registry, OPS, [REGISTRY], p.key, list(p.items)
            )
        )
        for p in parts
    }


def test_cluster_results_and_store_equal_a_local_run(
    cluster_loop: tuple[asyncio.AbstractEventLoop, Any], tmp_path: Path
) -> None:
    loop, client = cluster_loop
    parts = partitions(40, 6)
    remote_dir, local_dir = tmp_path / "remote", tmp_path / "local"
    remote_dir.mkdir()
    local_dir.mkdir()
    runner = DaskRunner(client, allowed_registries=ALLOWED, max_in_flight=3)
    got = by_key(drive(loop, runner, job_of(make_spec(remote_dir)), parts))
    want = local(job_of(make_spec(local_dir)), parts)
    assert got.keys() == want.keys()
    strip = {k: [r.map(lambda v: v) for r in rs] for k, rs in got.items()}
    assert strip == {k: list(rs) for k, rs in want.items()}
    assert stored(remote_dir) == stored(local_dir)
    assert len(stored(remote_dir)) == 40


def test_a_worker_killed_mid_task_is_rescheduled_without_duplicates(
    cluster_loop: tuple[asyncio.AbstractEventLoop, Any], tmp_path: Path
) -> None:
    loop, client = cluster_loop
    parts = partitions(12, 4)
    runner = DaskRunner(client, allowed_registries=ALLOWED, max_in_flight=2)
    got = by_key(drive(loop, runner, job_of(make_spec(tmp_path, die_ids=["i005"])), parts))
    assert (tmp_path / "died-i005-0").exists()  # a worker really died in that task
    assert sorted(got) == ["p00", "p01", "p02"]
    assert all(isinstance(r, Ok) for rs in got.values() for r in rs)
    assert len(stored(tmp_path)) == 12
    assert sorted(set(writes(tmp_path))) == sorted(stored(tmp_path))


def test_a_tampered_spec_is_refused_on_the_workers(
    cluster_loop: tuple[asyncio.AbstractEventLoop, Any], tmp_path: Path
) -> None:
    loop, client = cluster_loop
    job = job_of(make_spec(tmp_path))
    bad = DaskJob(job.spec_json.replace('"dask-demo"', '"evil"'), job.registry, job.allow_list)
    runner = DaskRunner(client, allowed_registries=ALLOWED)
    got = by_key(drive(loop, runner, bad, partitions(6, 3)))
    codes_seen = {r.error.code for rs in got.values() for r in rs if isinstance(r, Err)}
    assert codes_seen == {"HASH_MISMATCH"}
    assert stored(tmp_path) == {}
    assert writes(tmp_path) == []


def test_an_unallowed_registry_sends_nothing(
    cluster_loop: tuple[asyncio.AbstractEventLoop, Any], tmp_path: Path
) -> None:
    loop, client = cluster_loop
    job = DaskJob(job_of(make_spec(tmp_path)).spec_json, "os:system", OPS)
    runner = DaskRunner(client, allowed_registries=ALLOWED)
    got = drive(loop, runner, job, partitions(4, 2))
    assert [r.error.code if isinstance(r, Err) else None for r in got] == ["UNALLOWED_OP"] * 2
    assert [r.error.path for r in got if isinstance(r, Err)] == [("p00",), ("p01",)]


def test_a_task_that_keeps_killing_workers_is_an_err_with_its_key(
    cluster_loop: tuple[asyncio.AbstractEventLoop, Any], tmp_path: Path
) -> None:
    """A task whose every attempt kills its worker: the scheduler gives up after
    allowed-failures and the partition is an Err with its key; the others complete."""
    loop, client = cluster_loop
    parts = partitions(4, 2)
    spec = make_spec(tmp_path, die_ids=["i000"], times=100)
    # One task in flight: Dask also blames the tasks that shared a dying worker, so a second
    # partition running beside the deadly one could be given up on too.
    runner = DaskRunner(client, allowed_registries=ALLOWED, max_in_flight=1)
    results = drive(loop, runner, job_of(spec), parts)
    errs = [r.error for r in results if isinstance(r, Err)]
    assert [e.path for e in errs] == [("p00",)]
    assert "KilledWorker" in errs[0].msg


def test_backpressure_window_is_validated() -> None:
    with pytest.raises(ValueError, match="max_in_flight"):
        DaskRunner(object(), allowed_registries=ALLOWED, max_in_flight=0)  # type: ignore[arg-type]
