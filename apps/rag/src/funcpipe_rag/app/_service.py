"""The app as a long-lived service: one process owns the open store and the loaded embedder;
searches use them directly and ingest jobs run beside them (see ``_jobs``).

Laws: a search's hits equal ``run_search``'s for the same store and query; a job's report
equals ``run_ingest``'s for the same input and store state. Errors are the pipelines' codes plus
``INGEST_RUNNING`` and the guard's (``PERMISSION_DENIED``). ``open_service`` closes the store on
exit after stopping a running job (``drain_s`` bounds the wait).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from funcpipe.adapters.http import HttpClient
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.specs import PipelineSpec

from funcpipe_rag.adapters import EmbedderPort
from funcpipe_rag.domain import SearchHit
from funcpipe_rag.pipelines import DEFAULT_SPEC, search

from ._compose import Backends, FreeBytes, collection_for, disk_free, events_on, open_backends
from ._guard import Guard
from ._jobs import Job, JobBoard, JobRequest, fold_into, request_roots
from ._settings import Settings

OWNER_FILE = "serve.json"
"""Under a local store's data dir while a server owns it: ``{"url", "pid"}``."""

MAX_K = 1000


def owner_of(data_dir: Path) -> str | None:
    """The URL of the live server that owns ``data_dir``, if one does."""
    try:
        doc = json.loads((data_dir / OWNER_FILE).read_text("utf-8"))
        pid, url = int(doc["pid"]), str(doc["url"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return url


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    guard: Guard = Guard()
    base: Path | None = None
    """Source keys are relative to this (default: the working directory at start)."""
    url: str | None = None
    """Where the server listens (written to the owner file of a local store)."""
    free_bytes: FreeBytes = disk_free


class Service:
    """Search and ingest over backends opened once."""

    def __init__(
        self,
        settings: Settings,
        backends: Backends,
        spec: PipelineSpec,
        options: ServiceOptions,
    ) -> None:
        self.settings = settings
        self.backends = backends
        self.spec = spec
        self.options = options
        self.base = (options.base or Path.cwd()).absolute()
        local_embedder = not settings.embed_url
        # a thread of its own when the work is CPU-bound here and nothing is loop-bound
        self.jobs = JobBoard(self._run_job, threaded=local_embedder and not settings.qdrant_url)

    @property
    def collection(self) -> str:
        return self.backends.index.collection

    async def search(self, query: str, k: int) -> Result[list[SearchHit], ErrInfo]:
        """The ``k`` nearest chunks (``INVALID_INPUT`` for an empty query or k out of 1..1000)."""
        if not 1 <= k <= MAX_K:
            return Err(ErrInfo(codes.INVALID_INPUT, f"k must be 1..{MAX_K}", stage="usage"))
        b = self.backends
        return await search(b.index, b.embedder, query, k, self.collection)()

    def start_ingest(self, request: JobRequest) -> Result[Job, ErrInfo]:
        """Check the request against the guard, then start it as a job (``INGEST_RUNNING`` if
        one runs). Nothing is read before every path and URL is allowed."""
        roots = request_roots(request)
        if not roots:
            return Err(ErrInfo(codes.INVALID_INPUT, "give paths or urls", stage="usage"))
        checked = self.options.guard.check(roots)
        if isinstance(checked, Err):
            return checked
        return self.jobs.start(request)

    async def _run_job(self, job: Job) -> None:
        urls = bool(job.request.urls)
        async with AsyncExitStack() as stack:
            http = None
            if urls:
                hook = self.options.guard.request_hook()
                client = await stack.enter_async_context(
                    httpx.AsyncClient(
                        follow_redirects=True, event_hooks={"request": [hook] if hook else []}
                    )
                )
                http = HttpClient(client)
            b = Backends(self.backends.index, self.backends.embedder, http)
            events = events_on(
                b,
                self.settings,
                self.spec,
                request_roots(job.request),
                prune=job.request.prune,
                dry_run=job.request.dry_run,
                base=self.base,
                free_bytes=self.options.free_bytes,
            )
            await fold_into(job, events, self.jobs.counters)


async def _warm(b: Backends) -> Result[None, ErrInfo]:
    got = await b.embedder.embed(["warm up"])()
    return Err(got.error) if isinstance(got, Err) else Ok(None)


@asynccontextmanager
async def open_service(
    settings: Settings,
    options: ServiceOptions = ServiceOptions(),
    *,
    spec: PipelineSpec = DEFAULT_SPEC,
    embedder: EmbedderPort | None = None,
    drain_s: float = 10.0,
) -> AsyncIterator[Result[Service, ErrInfo]]:
    """Open the store, load the embedder (one embedding, so ``ready`` means ready) and hold
    them; on exit stop a running job (at most ``drain_s`` s), then close the store."""
    collection = collection_for(settings, spec)
    async with open_backends(
        settings, collection, embedder=embedder, free_bytes=options.free_bytes
    ) as opened:
        if isinstance(opened, Err):
            yield opened
            return
        warm = await _warm(opened.value)
        if isinstance(warm, Err):
            yield warm
            return
        service = Service(settings, opened.value, spec, options)
        owner = _claim(settings, options.url)
        try:
            yield Ok(service)
        finally:
            await service.jobs.stop(drain_s)
            if owner is not None:
                owner.unlink(missing_ok=True)


def _claim(settings: Settings, url: str | None) -> Path | None:
    if settings.qdrant_url or url is None:
        return None
    where = settings.qdrant_path or settings.data_dir
    path = where / OWNER_FILE
    try:
        path.write_text(json.dumps({"url": url, "pid": os.getpid()}), "utf-8")
    except OSError:
        return None
    return path


def job_request(
    paths: Sequence[str] = (), urls: Sequence[str] = (), *, prune: bool = False, dry_run: bool = False
) -> JobRequest:
    return JobRequest(tuple(paths), tuple(urls), prune=prune, dry_run=dry_run)
