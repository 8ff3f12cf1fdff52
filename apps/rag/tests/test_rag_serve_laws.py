"""Laws of the serve app layer, in process: the read guard (Hypothesis over addresses and
paths), one job at a time, and the paced ingest embedder (same vectors, same identity)."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

from funcpipe.result import Err, Ok
from funcpipe_rag.app import INGEST_RUNNING, static_embedder
from funcpipe_rag.app._backends import _Paced
from funcpipe_rag.app.service import Guard, Job, JobRequest
from funcpipe_rag.app.service._addresses import is_public
from funcpipe_rag.app.service._guard import check_path, check_url
from funcpipe_rag.app.service._jobs import JobBoard
from hypothesis import given, settings
from hypothesis import strategies as st

addresses = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str))


@given(st.lists(addresses, min_size=1, max_size=4))
def test_a_url_is_allowed_iff_every_address_of_its_host_is_public(addrs: list[str]) -> None:
    got = check_url("http://docs.example/x.md", allow_private=False, resolver=lambda _: addrs)
    every_global = all(is_public(ipaddress.ip_address(a)) for a in addrs)  # embedded IPv4 too
    assert isinstance(got, Ok) == every_global
    if isinstance(got, Err):
        assert got.error.code == "PERMISSION_DENIED"
    allowed = check_url("http://docs.example/x.md", allow_private=True, resolver=lambda _: addrs)
    assert isinstance(allowed, Ok)


@given(st.lists(st.sampled_from(["a", "b", "..", "."]), max_size=5))
def test_a_path_is_allowed_iff_it_resolves_under_a_root(parts: list[str]) -> None:
    base = Path("/srv/funcpipe-guard-law")
    root = base / "a"
    path = base.joinpath(*parts) if parts else base
    real = Path(str(path)).resolve()
    got = check_path(str(path), [root])
    assert isinstance(got, Ok) == (real == root or root in real.parents)
    assert isinstance(check_path(str(path), []), Err)


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=2, max_value=5))
def test_one_job_at_a_time(n: int) -> None:
    async def scenario() -> None:
        gate = asyncio.Event()

        async def run(job: Job) -> None:
            await gate.wait()

        board = JobBoard(run, threaded=False)
        first = board.start(JobRequest(paths=("x",)))
        assert isinstance(first, Ok)
        for _ in range(n):
            again = board.start(JobRequest(paths=("x",)))
            assert isinstance(again, Err)
            assert again.error.code == INGEST_RUNNING
        await asyncio.sleep(0)
        gate.set()
        for _ in range(50):
            if not first.value.active:
                break
            await asyncio.sleep(0.01)
        assert first.value.status == "done"
        assert isinstance(board.start(JobRequest(paths=("x",))), Ok)
        gate.set()

    asyncio.run(scenario())


def test_stop_interrupts_a_running_job() -> None:
    async def scenario() -> None:
        async def run(job: Job) -> None:
            await asyncio.Event().wait()

        board = JobBoard(run, threaded=True)
        job = board.start(JobRequest(paths=("x",)))
        assert isinstance(job, Ok)
        for _ in range(100):
            if job.value.cancel is not None:
                break
            await asyncio.sleep(0.01)
        assert await board.stop(5.0)
        assert job.value.status == "interrupted"
        assert job.value.to_json()["report"] == {**job.value.report.to_json(), "interrupted": True}

    asyncio.run(scenario())


def test_guard_refuses_before_anything_is_read(tmp_path: Path) -> None:
    guard = Guard(roots=(tmp_path / "ok",))
    got = guard.check([str(tmp_path / "ok" / "a.md"), str(tmp_path / "no.md")])
    assert isinstance(got, Err)
    assert str(tmp_path / "no.md") in got.error.msg


def test_paced_embedder_gives_the_same_vectors_and_identity() -> None:
    shared = static_embedder()
    paced = _Paced(shared.inner, 0.5)
    assert (paced.model_id, paced.dimension) == (shared.inner.model_id, shared.inner.dimension)
    texts = ["qdrant edge", "retry backoff policy"]

    async def both() -> tuple[object, object]:
        return await shared.inner.embed(texts)(), await paced.embed(texts)()

    a, b = asyncio.run(both())
    assert isinstance(a, Ok)
    assert a == b
