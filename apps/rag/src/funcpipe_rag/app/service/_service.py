"""The app as a long-lived service: one process owns the open store and the loaded embedder;
searches use them directly and ingest jobs run beside them (see ``_jobs``).

Laws: a search's hits equal ``run_search``'s for the same store and query; a job's report
equals ``run_ingest``'s for the same input and store state. Errors are the pipelines' codes plus
``INGEST_RUNNING`` and the guard's (``PERMISSION_DENIED``). ``open_service`` closes the store on
exit after stopping a running job (``drain_s`` bounds the wait).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from funcpipe_rag.adapters import EmbedderPort, Filters, PhaseObserver
from funcpipe_rag.app._backends import Backends, ingest_embedder, lower_priority, open_backends
from funcpipe_rag.app._ingest import events_on
from funcpipe_rag.app._manage import (
    CollectionStats,
    DeleteReport,
    SourceEntry,
    collection_stats,
    list_sources,
    remove_sources,
    store_dir,
)
from funcpipe_rag.app._settings import Settings, collection_for
from funcpipe_rag.app._space import FreeBytes, disk_free
from funcpipe_rag.domain import SearchHit, SearchOptions, Stage, VerifyOutcome, is_url
from funcpipe_rag.pipelines import DEFAULT_SETTINGS, IngestSettings, search, verify

from ._guard import Guard, shown_url
from ._jobs import INGEST_RUNNING, Job, JobBoard, JobRequest, fold_into, request_roots
from ._owner import claim
from ._phases import TimedEmbedder, ignore_phase

MAX_K = 1000


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    guard: Guard = field(default_factory=Guard)
    base: Path | None = None
    """Source keys are relative to this (default: the working directory at start)."""
    url: str | None = None
    """Where the server listens (written to the owner file of a local store)."""
    free_bytes: FreeBytes = disk_free
    ingest_share: float = 1.0
    """At most this share of its thread a job's embedding uses (0 < share <= 1; the static
    model only): less leaves more CPU to searches, at the cost of a slower ingest."""


class Service:
    """Search and ingest over backends opened once."""

    def __init__(
        self,
        settings: Settings,
        backends: Backends,
        spec: IngestSettings,
        options: ServiceOptions,
    ) -> None:
        self.settings = settings
        self.backends = backends
        self.spec = spec
        self.options = options
        self.base = (options.base or Path.cwd()).absolute()
        self.ingest_embedder = backends.embedder
        self.observe_phase: PhaseObserver = ignore_phase
        """Told each search phase's wall time (``app._phases``); the server's metrics set it."""
        self._search_index = backends.index.observed(self._phase)
        self._search_embedder = TimedEmbedder(backends.embedder, self._phase)
        local_embedder = not settings.embed_url
        # a thread of its own when the work is CPU-bound here and nothing is loop-bound
        self.jobs = JobBoard(self._run_job, threaded=local_embedder and not settings.qdrant_url)

    @property
    def collection(self) -> str:
        return self.backends.index.collection

    async def search(
        self, query: str, options: SearchOptions | int
    ) -> Result[list[SearchHit], ErrInfo]:
        """The best chunks (``INVALID_INPUT`` for an empty query or k out of 1..1000); each
        phase's time is told to ``observe_phase``. Cancelled at an await, it stops there (a
        store or embedder call already running in its thread finishes and is dropped)."""
        k = options.k if isinstance(options, SearchOptions) else options
        if not 1 <= k <= MAX_K:
            return Err(ErrInfo(codes.INVALID_INPUT, f"k must be 1..{MAX_K}", stage=Stage.USAGE))
        index, embedder = self._search_index, self._search_embedder
        return await search(index, embedder, query, options, self.collection)()

    def _phase(self, name: str, seconds: float) -> None:
        self.observe_phase(name, seconds)

    async def start_ingest(self, request: JobRequest) -> Result[Job, ErrInfo]:
        """Check the request against the guard (off the event loop, within its budget), then
        start it as a job (``INGEST_RUNNING`` if one runs). Nothing is read before every path
        and URL is allowed."""
        roots = request_roots(request)
        if not roots:
            return Err(ErrInfo(codes.INVALID_INPUT, "give paths or urls", stage=Stage.USAGE))
        for url in request.urls:
            if not is_url(url):
                msg = f"not an http(s) URL: {shown_url(url)}"
                return Err(ErrInfo(codes.INVALID_INPUT, msg, stage=Stage.USAGE))
        if request.spec is not None:
            named = collection_for(self.settings, request.spec)
            if named != self.collection:
                msg = f"the spec names collection {named!r}; this server serves {self.collection!r}"
                return Err(ErrInfo(codes.INVALID_INPUT, msg, stage=Stage.USAGE))
        filters = Filters(request.include, request.exclude).check()
        if isinstance(filters, Err):
            return filters
        checked = await self.options.guard.admit(roots)
        if isinstance(checked, Err):
            return checked
        return self.jobs.start(request)

    async def sources(self) -> Result[list[SourceEntry], ErrInfo]:
        """The committed sources (``list_sources``)."""
        return await list_sources(self.backends.index)

    async def stats(self) -> Result[CollectionStats, ErrInfo]:
        """The collection's figures (``collection_stats``)."""
        return await collection_stats(
            self.backends.index, store_dir(self.settings, self.collection)
        )

    async def delete(
        self, key: str, *, glob: bool = False, dry_run: bool = False
    ) -> Result[DeleteReport, ErrInfo]:
        """Delete exactly the source ``key`` (with ``glob``: every source the glob matches) by
        the protocol; ``dry_run`` changes nothing. Refused with ``INGEST_RUNNING`` while a job
        runs (both would write the same sources)."""
        running = self.jobs.current
        if running is not None:
            msg = f"an ingest is running (job {running.id}); delete after it ends"
            return Err(ErrInfo(INGEST_RUNNING, msg, stage=Stage.USAGE, ctx={"job": running.id}))
        index = self.backends.index
        return await remove_sources(index, [key], exact=not glob, dry_run=dry_run)

    async def verify(self, *, repair: bool) -> Result[VerifyOutcome, ErrInfo]:
        """The store's invariants (``verify``); with ``repair`` what it removed is gone after.
        Both refused with ``INGEST_RUNNING`` while a job runs (a half-written source would be
        reported, or repaired under the writer)."""
        running = self.jobs.current
        if running is not None:
            msg = f"an ingest is running (job {running.id}); verify after it ends"
            return Err(ErrInfo(INGEST_RUNNING, msg, stage=Stage.USAGE, ctx={"job": running.id}))
        got = await verify(self.backends.index, repair=repair)()
        if isinstance(got, Err):
            return got
        found, after = got.value
        return Ok(VerifyOutcome(after if after is not None else found, found if repair else None))

    async def _run_job(self, job: Job) -> None:
        urls = bool(job.request.urls)
        async with AsyncExitStack() as stack:
            http = None
            if urls:
                import httpx  # loaded only when URLs are fetched (start-up time)
                from funcpipe.adapters.http import HttpClient

                client = await stack.enter_async_context(
                    httpx.AsyncClient(
                        follow_redirects=True, transport=self.options.guard.transport()
                    )
                )
                http = HttpClient(client)
            if self.jobs.threaded:
                lower_priority()
            b = Backends(self.backends.index, self.ingest_embedder, http)
            request = job.request
            events = events_on(
                b,
                self.settings,
                request.spec or self.spec,
                request_roots(request),
                prune=request.prune,
                dry_run=request.dry_run,
                base=self.base,
                free_bytes=self.options.free_bytes,
                filters=Filters(request.include, request.exclude),
                confine=self.options.guard.confine(),
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
    spec: IngestSettings = DEFAULT_SETTINGS,
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
        if embedder is None and not settings.embed_url:
            service.ingest_embedder = await ingest_embedder(
                opened.value.embedder, options.ingest_share
            )
        owner = claim(settings, options.url)
        try:
            yield Ok(service)
        finally:
            await service.jobs.stop(drain_s)
            if owner is not None:
                owner.unlink(missing_ok=True)
