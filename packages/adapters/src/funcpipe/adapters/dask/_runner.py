"""The driver: submit partitions to a Dask cluster within a window, yield results as they come.

Dask runs a task at least once (a task on a worker that dies runs again elsewhere); the stages
a spec names must therefore be safe to re-run (stable ids + upsert), which is what the pipeline
laws are about. Every task carries an explicit key, unique per run and partition (never Dask's
``pure`` default, which merges identical calls).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Collection, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from distributed import Client, Future, LocalCluster
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen

from ._wire import DaskJob, Partition, Plain, decode_result, is_registry_name, to_plain
from ._worker import run_partition

STAGE = "dask"


@dataclass(frozen=True, slots=True)
class PartitionResult:
    """What one partition gave: its key and one Result per output item, in stage order."""

    key: str
    results: tuple[Result[Plain, ErrInfo], ...]


def _err(code: str, msg: str, key: str) -> Err[ErrInfo]:
    return Err(ErrInfo(code, msg, stage=STAGE, path=(key,)))


class DaskRunner:
    """Runs a ``DaskJob`` over partitions on the cluster behind an asynchronous ``Client``.

    ``run(job, partitions)`` is an AsyncGen of ``Ok(PartitionResult)`` in completion order;
    a partition whose task failed (raised, or its workers died ``allowed-failures`` times) is
    an ``Err`` whose ``path[0]`` is the partition's key, and the run goes on. At most
    ``max_in_flight`` tasks are submitted at once (backpressure: partitions are pulled from
    the iterable only as tasks finish). A job whose registry is not in ``allowed_registries``
    is refused for every partition (UNALLOWED_OP) and nothing is sent. Closing the stream
    early cancels the tasks in flight. ``retries`` re-runs a task that raised.
    """

    def __init__(
        self,
        client: Client,
        *,
        allowed_registries: Collection[str],
        max_in_flight: int = 8,
        retries: int = 0,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self._client = client
        self._allowed = tuple(sorted(allowed_registries))
        self._window = max_in_flight
        self._retries = retries

    def run(
        self, job: DaskJob, partitions: Iterable[Partition], *, run_id: str | None = None
    ) -> AsyncGen[PartitionResult]:
        """The results of every partition; nothing is submitted until the stream is iterated."""

        def _thunk() -> AsyncIterator[Result[PartitionResult, ErrInfo]]:
            return self._iterate(job, iter(partitions), run_id or uuid.uuid4().hex[:12])

        return _thunk

    async def _iterate(
        self, job: DaskJob, parts: Iterator[Partition], run_id: str
    ) -> AsyncIterator[Result[PartitionResult, ErrInfo]]:
        if job.registry not in self._allowed or not is_registry_name(job.registry):
            for p in parts:
                yield _err("UNALLOWED_OP", f"registry {job.registry!r} is not allowed", p.key)
            return
        prefix = f"funcpipe-{hashlib.sha256(job.spec_json.encode()).hexdigest()[:12]}-{run_id}"
        running: dict[asyncio.Task[Result[PartitionResult, ErrInfo]], Future[Any]] = {}
        index = 0

        refused: list[Err[ErrInfo]] = []

        def submit_next() -> bool:
            """Submit the next partition; False when there is none left."""
            nonlocal index
            p = next(parts, None)
            if p is None:
                return False
            try:
                items = [to_plain(i) for i in p.items]
            except ValueError as exc:
                refused.append(
                    _err(codes.INVALID_INPUT, f"an item is not plain data ({exc})", p.key)
                )
                return True
            fut = self._client.submit(
                run_partition,
                job.spec_json,
                job.registry,
                list(job.allow_list),
                list(self._allowed),
                p.key,
                items,
                key=f"{prefix}-{index}",
                pure=False,
                retries=self._retries,
            )
            index += 1
            running[asyncio.ensure_future(_settle(fut, p.key))] = fut
            return True

        try:
            while True:
                while len(running) < self._window and submit_next():
                    while refused:
                        yield refused.pop()
                if not running:
                    return
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda t: running[t].key):
                    del running[task]
                    yield task.result()
        finally:
            if running:
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)
                await self._client.cancel(list(running.values()))  # type: ignore[no-untyped-call]


async def _settle(fut: Future[Any], key: str) -> Result[PartitionResult, ErrInfo]:
    """The outcome of one task as a Result; a failed task is an Err keyed by its partition."""
    try:
        raw = await fut
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        e = ErrInfo.from_exception(
            exc, code=codes.UNEXPECTED, msg=f"task failed: {type(exc).__name__}: {exc}"
        )
        return Err(ErrInfo(e.code, e.msg, STAGE, (key,), exc))
    if not isinstance(raw, list):
        return _err(codes.UNEXPECTED, "a malformed task result", key)
    results = tuple(decode_result(r, key) if isinstance(r, dict) else _malformed(key) for r in raw)
    return Ok(PartitionResult(key, results))


def _malformed(key: str) -> Result[Plain, ErrInfo]:
    return _err(codes.UNEXPECTED, "a malformed task result", key)


@asynccontextmanager
async def dask_client(
    address: str | None = None,
    *,
    n_workers: int = 2,
    threads_per_worker: int = 1,
    timeout_s: float = 30.0,
) -> AsyncIterator[Result[Client, ErrInfo]]:
    """An asynchronous client: to the scheduler at ``address``, or else to a LocalCluster of
    ``n_workers`` processes on loopback started here and stopped on exit.

    A scheduler that cannot be reached within ``timeout_s`` is ``Err(NETWORK)``; a cluster that
    fails to start is ``Err(UNEXPECTED)``. Both the client and the cluster are closed on exit.
    """
    cluster: LocalCluster | None = None
    client: Client | None = None
    try:
        try:
            if address is None:
                cluster = await LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=n_workers,
                    threads_per_worker=threads_per_worker,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",
                    asynchronous=True,
                    silence_logs=logging.ERROR,
                )
                client = await Client(cluster, asynchronous=True, timeout=timeout_s)  # type: ignore[no-untyped-call]
            else:
                client = await Client(address, asynchronous=True, timeout=timeout_s)  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError) as exc:
            where = address or "a local cluster"
            yield Err(
                ErrInfo(codes.NETWORK, f"cannot reach the Dask scheduler at {where}: {exc}", STAGE)
            )
            return
        except Exception as exc:
            yield Err(ErrInfo.from_exception(exc, stage=STAGE))
            return
        yield Ok(client)
    finally:
        if client is not None:
            await client.close()  # type: ignore[no-untyped-call]
        if cluster is not None:
            closing = cluster.close()
            if closing is not None:
                await closing
