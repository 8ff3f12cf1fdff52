"""Ingest jobs of a long-lived process: one at a time, each a stream of events folded into the
``ingest --json`` report while its progress is readable.

Laws: at most one job runs (``start`` while one runs is ``Err(INGEST_RUNNING)`` and changes
nothing); a job's report is the fold of the same events the CLI's ``ingest`` folds, so for the
same input and store state it equals ``ingest --json``. Cancellation (``stop``): the running job
is cancelled where it awaits; the ingestion protocol makes every such point safe (a re-run
converges), its status becomes ``interrupted`` and its report says ``"interrupted": true``.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from funcpipe.adapters.runtime import aclose_quietly, run_blocking, run_main
from funcpipe.result import Err, ErrInfo, Ok, Result
from funcpipe.streams import AsyncGen

from funcpipe_rag.domain import INGEST_RUNNING as INGEST_RUNNING
from funcpipe_rag.domain import Failure, Stage, classify, error_body
from funcpipe_rag.pipelines import (
    IngestEvent,
    IngestReport,
    IngestSettings,
    Outcome,
    Phase,
    SourceError,
    plan_lines,
)

KEEP_JOBS = 100
"""Finished jobs remembered (oldest forgotten first)."""

JobRun = Callable[["Job"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class JobRequest:
    """What an ingest job runs: the roots, ``--prune`` / ``--dry-run``, ``--include`` /
    ``--exclude`` and a spec (``None``: the server's) that ``Service.start_ingest`` checked."""

    paths: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    prune: bool = False
    dry_run: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    spec: IngestSettings | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "paths": list(self.paths),
            "urls": list(self.urls),
            "prune": self.prune,
            "dry_run": self.dry_run,
            "include": list(self.include),
            "exclude": list(self.exclude),
            "spec": self.spec.spec_hash if self.spec is not None else None,
        }


@dataclass(slots=True)
class Job:
    """One ingest run. Written by the job's loop, read by the server's (under ``lock``)."""

    id: str
    request: JobRequest
    status: str = "queued"  # queued -> running -> done | failed | interrupted
    phase: str = ""
    created: float = field(default_factory=time.time)
    finished: float | None = None
    report: IngestReport = field(default_factory=IngestReport)
    error: ErrInfo | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: threading.Event = field(default_factory=threading.Event)
    cancel: Callable[[], None] | None = None

    def apply(self, event: IngestEvent) -> None:
        with self.lock:
            if isinstance(event, Phase):
                self.phase = event.name
            self.report.apply(event)

    def end(self, status: str, error: ErrInfo | None = None) -> None:
        with self.lock:
            self.status = status
            self.error = error
            self.finished = time.time()
        self.done.set()

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")

    def to_json(self) -> dict[str, object]:
        """Status, progress and (once finished) the ``ingest --json`` report."""
        with self.lock:
            r = self.report
            doc: dict[str, object] = {
                "id": self.id,
                "status": self.status,
                "request": self.request.to_json(),
                "created": self.created,
                "finished": self.finished,
                "progress": {
                    "phase": self.phase,
                    "sources_done": r.sources_seen - len(r.errors),
                    "sources_failed": len(r.errors),
                    "chunks_embedded": r.chunks_embedded,
                    "chunks_upserted": r.chunks_upserted,
                },
                "report": None,
                "error": None,
            }
            if self.status in ("done", "interrupted"):
                report = r.to_json()
                if self.status == "interrupted":
                    report["interrupted"] = True
                doc["report"] = report
                if self.request.dry_run:
                    doc["plan"] = list(plan_lines(r))
            if self.error is not None:
                doc["error"] = error_body(self.error)
            doc["class"] = self._failure()
            return doc

    def _failure(self) -> str | None:
        """The finished run's class (what the CLI's ``--server`` twin exits by)."""
        if self.status == "interrupted":
            return Failure.CANCELLED.value
        if self.error is not None:
            return classify(self.error).value
        failure = self.report.failure() if not self.active else None
        return failure.value if failure is not None else None


@dataclass(slots=True)
class Counters:
    """Ingest totals since start (what ``/metrics`` exports)."""

    jobs: dict[str, int] = field(default_factory=dict)
    sources: int = 0
    source_errors: int = 0
    chunks_embedded: int = 0
    chunks_upserted: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, event: IngestEvent) -> None:
        with self.lock:
            if isinstance(event, Outcome):
                self.sources += 1
                self.chunks_embedded += event.embedded
                self.chunks_upserted += event.upserted
            elif isinstance(event, SourceError):
                self.source_errors += 1

    def ended(self, status: str) -> None:
        with self.lock:
            self.jobs[status] = self.jobs.get(status, 0) + 1


class JobBoard:
    """The jobs of one process; at most one runs. ``threaded`` runs each job on a thread of its
    own with its own event loop (CPU-bound parsing and chunking then never block the server's
    loop); otherwise as a task on the caller's loop."""

    def __init__(self, run: JobRun, *, threaded: bool) -> None:
        self._run = run
        self.threaded = threaded
        self._jobs: dict[str, Job] = {}
        self._current: Job | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.counters = Counters()

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    @property
    def current(self) -> Job | None:
        job = self._current
        return job if job is not None and job.active else None

    def start(self, request: JobRequest) -> Result[Job, ErrInfo]:
        """Start a job, or ``Err(INGEST_RUNNING)`` naming the running one."""
        running = self.current
        if running is not None:
            msg = f"an ingest is running (job {running.id}); wait for it: GET /v1/jobs/{running.id}"
            return Err(ErrInfo(INGEST_RUNNING, msg, stage=Stage.USAGE, ctx={"job": running.id}))
        job = Job(uuid.uuid4().hex, request)
        self._jobs[job.id] = job
        while len(self._jobs) > KEEP_JOBS:
            del self._jobs[next(iter(self._jobs))]
        self._current = job
        if self.threaded:
            thread = threading.Thread(
                target=lambda: run_main(lambda: self._drive(job)),
                name=f"funcpipe-job-{job.id[:8]}",
                daemon=True,
            )
            thread.start()
        else:
            task = asyncio.get_running_loop().create_task(self._drive(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return Ok(job)

    async def _drive(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def _cancel() -> None:
            loop.call_soon_threadsafe(task.cancel)

        job.cancel = _cancel
        with job.lock:
            job.status = "running"
        try:
            await self._run(job)
        except asyncio.CancelledError:
            job.end("interrupted")
            self.counters.ended("interrupted")
            raise
        except Exception as exc:  # a bug: the job says so, the server lives on
            job.end("failed", ErrInfo.from_exception(exc))
            self.counters.ended("failed")
            return
        if job.active:
            job.end("done")
        self.counters.ended(job.status)

    async def stop(self, timeout: float) -> bool:
        """Cancel the running job and wait up to ``timeout`` s for it to stop; True if none
        is left running."""
        job = self.current
        if job is None:
            return True
        if job.cancel is not None:
            job.cancel()
        return await run_blocking(lambda: job.done.wait(timeout))


async def fold_into(job: Job, events: AsyncGen[IngestEvent], counters: Counters) -> None:
    """Drain ``events`` into ``job`` (the stream is always closed); a final ``Err`` fails it."""
    it = events()
    try:
        async for item in it:
            if isinstance(item, Err):
                job.end("failed", item.error)
                return
            job.apply(item.value)
            counters.count(item.value)
    finally:
        await aclose_quietly(it)


def request_roots(request: JobRequest) -> Sequence[str]:
    return [*request.paths, *request.urls]
