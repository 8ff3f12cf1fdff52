"""The ASGI app: the JSON API under ``/v1`` over one open ``Service``.

Every error is ``{"code", "msg"}`` with the status of ``status_for`` (validation errors 400,
unknown routes 404, wrong methods 405); never a traceback. The app only calls ``app``-layer
functions; it is served by ``_run.serve`` (uvicorn), which also owns the lifecycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from funcpipe.result import Err, ErrInfo, Result
from funcpipe.specs import parse as parse_spec
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from funcpipe_rag.app import SearchOptions, VerifyOutcome, check_spec
from funcpipe_rag.app.service import JobRequest, Service

from ._admission import DEFAULT_MAX_INFLIGHT, Admission, ClientGone, overloaded, watch_disconnect
from ._ask import mount_ask
from ._changes import add_change_routes
from ._errors import body, body_of, status_for
from ._guardrails import Guardrails, Limits
from ._hosts import HostPolicy
from ._metrics import Metrics

MAX_QUERY_CHARS = 2000
MAX_ROOTS = 1000
MAX_ITEM_CHARS = 4096
MAX_TERMS = 32
"""At most this many source globs in a search, and values per ``where`` field."""
MAX_TERM_CHARS = 512
MAX_WHERE_FIELDS = 16
Term = Annotated[str, Field(max_length=MAX_TERM_CHARS)]
MAX_PATTERNS = 100
MAX_SPEC_CHARS = 1_000_000


class SearchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="plain words")
    k: int = Field(default=5, ge=1, le=1000, description="how many hits")
    per_source: int | None = Field(
        default=None, ge=1, le=1000, description="at most this many hits per source"
    )
    source: list[Term] = Field(
        default_factory=list,
        max_length=MAX_TERMS,
        description="only sources matching a key or glob",
    )
    where: dict[Term, Term | Annotated[list[Term], Field(max_length=MAX_TERMS)]] = Field(
        default_factory=dict,
        max_length=MAX_WHERE_FIELDS,
        description="payload field -> value (or any of values): title, headings, source, ...",
    )

    def options(self) -> SearchOptions:
        """``ValueError`` for a field ``where`` cannot filter on."""
        pairs = tuple(
            (name, v)
            for name, value in self.where.items()
            for v in ([value] if isinstance(value, str) else value)
        )
        return SearchOptions(self.k, self.per_source, tuple(self.source), pairs)


class IngestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paths: list[str] = Field(default_factory=list, max_length=MAX_ROOTS)
    urls: list[str] = Field(default_factory=list, max_length=MAX_ROOTS)
    prune: bool = False
    dry_run: bool = False
    include: list[str] = Field(default_factory=list, max_length=MAX_PATTERNS)
    exclude: list[str] = Field(default_factory=list, max_length=MAX_PATTERNS)
    spec: str | None = Field(
        default=None, max_length=MAX_SPEC_CHARS, description="a pipeline spec's JSON text"
    )
    collection: str | None = Field(
        default=None, description="must be the served collection (as --collection)"
    )


class VerifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    repair: bool = False


class ErrorBody(BaseModel):
    code: str
    msg: str
    failure_class: str = Field(
        alias="class", description="usage, backend, partial, cancelled or unexpected"
    )


@dataclass(frozen=True, slots=True)
class AppOptions:
    api_key: str | None = None
    limits: Limits = field(default_factory=Limits)
    cors_origins: Sequence[str] = ()
    max_inflight: int = DEFAULT_MAX_INFLIGHT
    """Searches in flight at most; past it ``503 OVERLOADED`` + Retry-After (``_admission``)."""
    allowed_hosts: Sequence[str] = ()
    """Host names served beside loopback ones; checked without a key or when given."""


_ERRORS: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorBody} for s in (400, 401, 403, 404, 409, 413, 503)
}


def _error(e: ErrInfo) -> JSONResponse:
    return JSONResponse(body_of(e), status_code=status_for(e))


def _json(got: Result[object, ErrInfo], ok: int = 200) -> Response:
    if isinstance(got, Err):
        return _error(got.error)
    return JSONResponse(got.value, status_code=ok)


def _json_of(got: Result[VerifyOutcome, ErrInfo]) -> Response:
    return _error(got.error) if isinstance(got, Err) else JSONResponse(got.value.to_json())


class Lifecycle:
    """What the runner tells the app: ``draining`` once a shutdown began (``/readyz`` 503)."""

    def __init__(self) -> None:
        self.draining = False


def create_app(
    service: Service, options: AppOptions = AppOptions(), lifecycle: Lifecycle | None = None
) -> ASGIApp:
    """The API over ``service`` wrapped in the guardrails (and CORS when origins are given)."""
    life = lifecycle or Lifecycle()
    api = FastAPI(
        title="funcpipe-rag",
        version="1",
        description="Search and sync a Qdrant collection; one process owns the store.",
        docs_url=None,
        redoc_url=None,
    )
    admission = Admission(options.max_inflight)
    metrics = Metrics(service, admission)

    @api.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        msg = f"invalid {where}: {first.get('msg', 'invalid value')}"
        return JSONResponse(body("INVALID_INPUT", msg), status_code=400)

    @api.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        return JSONResponse(
            body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @api.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz", summary="Store open and embedder loaded", responses={503: {}})
    async def readyz() -> Response:
        if life.draining:
            return JSONResponse(body("CANCELLED", "shutting down"), status_code=503)
        return JSONResponse({"status": "ready", "collection": service.collection})

    @api.get("/metrics", summary="Prometheus metrics")
    async def prom() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @api.post("/v1/search", summary="The best chunks, as search --json", responses=_ERRORS)
    async def search(req: SearchBody, request: Request) -> Response:
        try:
            options = req.options()
        except ValueError as exc:
            return JSONResponse(body("INVALID_INPUT", str(exc)), status_code=400)
        if not admission.enter():
            return overloaded(admission)
        with admission.admitted():
            try:
                got = await watch_disconnect(service.search(req.query, options), request.receive)
            except ClientGone:
                admission.cancelled += 1
                return Response(status_code=499)  # nobody reads it: the client is gone
        if isinstance(got, Err):
            return _error(got.error)
        return JSONResponse([h.to_json() for h in got.value])

    @api.post("/v1/ingest", summary="Start an ingest job", status_code=202, responses=_ERRORS)
    async def ingest(req: IngestBody) -> Response:
        for item in (*req.paths, *req.urls):
            if len(item) > MAX_ITEM_CHARS or "\x00" in item:
                return JSONResponse(
                    body("INVALID_INPUT", f"a path or URL over {MAX_ITEM_CHARS} chars or with NUL"),
                    status_code=400,
                )
        if req.collection is not None and req.collection != service.collection:
            msg = f"this server serves collection {service.collection!r}, not {req.collection!r}"
            return JSONResponse(body("INVALID_INPUT", msg), status_code=400)
        spec = None
        if req.spec is not None:
            parsed = parse_spec(req.spec, "json").and_then(check_spec)
            if isinstance(parsed, Err):
                return _error(parsed.error)
            spec = parsed.value
        started = await service.start_ingest(
            JobRequest(
                tuple(req.paths),
                tuple(req.urls),
                prune=req.prune,
                dry_run=req.dry_run,
                include=tuple(req.include),
                exclude=tuple(req.exclude),
                spec=spec,
            )
        )
        if isinstance(started, Err):
            return _error(started.error)
        job = started.value
        return JSONResponse(
            {"job": job.id, "status": job.to_json()["status"], "url": f"/v1/jobs/{job.id}"},
            status_code=202,
            headers={"location": f"/v1/jobs/{job.id}"},
        )

    @api.get("/v1/jobs/{job_id}", summary="A job's status, progress and report", responses=_ERRORS)
    async def job(job_id: str) -> Response:
        found = service.jobs.get(job_id)
        if found is None:
            return JSONResponse(body("NOT_FOUND", f"no job {job_id}"), status_code=404)
        return JSONResponse(found.to_json())

    @api.get("/v1/sources", summary="The committed sources", responses=_ERRORS)
    async def sources() -> Response:
        got = await service.sources()
        if isinstance(got, Err):
            return _error(got.error)
        return JSONResponse([s.to_json() for s in got.value])

    @api.get("/v1/stats", summary="The collection's figures", responses=_ERRORS)
    async def stats() -> Response:
        got = await service.stats()
        if isinstance(got, Err):
            return _error(got.error)
        return JSONResponse(got.value.to_json())

    @api.get("/v1/verify", summary="Check the invariants, as verify --json", responses=_ERRORS)
    async def verify(repair: bool = False) -> Response:
        if repair:  # a GET never changes state, nor pretends to
            msg = 'repair changes the store: POST /v1/verify {"repair": true}'
            return JSONResponse(body("METHOD_NOT_ALLOWED", msg), status_code=405)
        return _json_of(await service.verify(repair=False))

    @api.post("/v1/verify", summary="Check (repair: restore) the invariants", responses=_ERRORS)
    async def verify_repair(req: VerifyBody) -> Response:
        return _json_of(await service.verify(repair=req.repair))

    mount_ask(api, service, admission)  # ask (issue 22): POST /v1/ask lives in serve/_ask.py
    add_change_routes(api, service, _ERRORS)

    hosts = None
    if not options.api_key or options.allowed_hosts:
        hosts = HostPolicy(options.allowed_hosts)
    app: ASGIApp = Guardrails(
        api, metrics=metrics, api_key=options.api_key, limits=options.limits, hosts=hosts
    )
    if options.cors_origins:  # outermost: a preflight is answered before the key is asked
        app = CORSMiddleware(
            app,
            allow_origins=list(options.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["authorization", "content-type", "x-request-id"],
            expose_headers=["x-request-id"],
        )
    return app
