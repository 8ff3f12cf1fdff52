"""The CLI's client of a running ``funcpipe-rag serve`` (``--server URL`` / ``FUNCPIPE_SERVER``).

Each call returns the same typed values the local app returns (decoded and validated from the
server's JSON), so one renderer prints both. A failure is the server's ``{"code", "msg",
"class"}`` as an ``ErrInfo`` at stage ``server`` whose ``ctx["class"]`` the failure model reads
(the client never guesses a class from a status); a server that cannot be reached is
``NETWORK`` (a backend: exit 3); a malformed answer is ``SERVICE_SPECIFIC``. The bearer key is
``FUNCPIPE_API_KEY``.

A ``503 OVERLOADED`` (the server shed the request) is retried by ``OVERLOAD_RETRY`` through the
library's ``async_with_resilience``: the server's ``Retry-After`` (``ctx["retry_after_s"]``)
sets each wait, and each wait is said on stderr. Every call but starting an ingest (not
idempotent) is retried; after the last attempt the server's own error is returned.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from funcpipe.adapters.runtime import run_main
from funcpipe.async_plan import async_with_resilience
from funcpipe.policies import ResilienceEnv, RetryPolicy, SystemClock
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from funcpipe_rag.app import (
    OVERLOADED,
    CollectionStats,
    Failure,
    IngestReport,
    SearchHit,
    SearchOptions,
    SourceEntry,
    Stage,
    VerifyOutcome,
    VerifyReport,
)

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")
POLL_S = 0.2
OVERLOAD_RETRY = RetryPolicy(
    max_attempts=6,
    retriable_codes=frozenset({OVERLOADED}),
    backoff_base_ms=500,
    max_backoff_ms=10_000,
)


def _err(code: str, msg: str, **ctx: object) -> Err[ErrInfo]:
    return Err(ErrInfo(code, msg, Stage.SERVER, ctx=ctx))


def _decode(kind: type[T], doc: object, server: str) -> Result[T, ErrInfo]:
    """``doc`` validated as ``kind`` (pydantic, loaded only for a server), or
    ``SERVICE_SPECIFIC`` naming the server."""
    from pydantic import TypeAdapter, ValidationError

    try:
        value: T = TypeAdapter(kind).validate_python(doc)
    except ValidationError as exc:
        first = exc.errors()[0]["msg"] if exc.errors() else "invalid"
        return _err(codes.SERVICE_SPECIFIC, f"server {server}: malformed answer ({first})")
    return Ok(value)


def _decode_list(kind: type[T], doc: object, server: str) -> Result[list[T], ErrInfo]:
    """``doc`` validated as a list of ``kind``."""
    if not isinstance(doc, list):
        return _err(codes.SERVICE_SPECIFIC, f"server {server}: malformed answer (not a list)")
    out: list[T] = []
    for item in doc:
        got = _decode(kind, item, server)
        if isinstance(got, Err):
            return got
        out.append(got.value)
    return Ok(out)


@dataclass(frozen=True, slots=True)
class RemoteJob:
    """A finished server ingest: its report (``ingest --json``), the dry run's plan, the run's
    class (``None``: every source succeeded) and whether a signal stopped it."""

    report: IngestReport
    plan: tuple[str, ...]
    interrupted: bool
    failure: Failure | None


class ServerClient:
    """The client of a running ``serve`` at ``url``."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _headers(self) -> dict[str, str]:
        key = os.environ.get("FUNCPIPE_API_KEY")
        return {"authorization": f"Bearer {key}"} if key else {}

    def call(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        params: Mapping[str, str] | None = None,
        retry: bool = True,
    ) -> Result[object, ErrInfo]:
        """One request (retried past ``503 OVERLOADED`` when ``retry``, see the module); the
        JSON answer, or the server's error as the failure model's."""
        if not retry:
            return self._once(method, path, json=json, params=params)
        attempt = [1]

        async def _attempt() -> Result[object, ErrInfo]:
            return self._once(method, path, json=json, params=params)

        async def _wait(seconds: float) -> None:
            attempt[0] += 1
            print(
                f"funcpipe-rag: the server at {self.url} is overloaded (503 {OVERLOADED}); "
                f"retrying in {seconds:.1f} s as its Retry-After asks (attempt {attempt[0]} of "
                f"{OVERLOAD_RETRY.max_attempts})",
                file=sys.stderr,
                flush=True,
            )
            await asyncio.sleep(seconds)

        env = ResilienceEnv(rng=random.Random(), sleep=_wait, clock=SystemClock())

        async def _main() -> Result[object, ErrInfo]:
            return await async_with_resilience(_attempt, OVERLOAD_RETRY, env=env)()

        ran = run_main(_main)
        got: Result[object, ErrInfo] = ran.value if isinstance(ran, Ok) else ran
        if isinstance(got, Err) and got.error.code == codes.MAX_RETRIES:
            last = got.error.ctx.get("last_error")
            if isinstance(last, ErrInfo):
                return Err(last.with_ctx(attempts=OVERLOAD_RETRY.max_attempts))
        return got

    def _once(
        self, method: str, path: str, *, json: object, params: Mapping[str, str] | None
    ) -> Result[object, ErrInfo]:
        import httpx  # loaded only when a server is used (start-up time)

        try:
            r = httpx.request(
                method,
                self.url + path,
                headers=self._headers(),
                json=json,
                params=params,
                timeout=60,
            )
        except httpx.HTTPError as exc:
            return _err(codes.NETWORK, f"cannot reach the server at {self.url}: {exc}")
        return self._answer(r)

    def _answer(self, r: httpx.Response) -> Result[object, ErrInfo]:
        try:
            doc: object = r.json()
        except ValueError:
            doc = None
        if r.status_code < 400:
            return Ok(doc)
        got = doc if isinstance(doc, dict) else {}
        from funcpipe.adapters.http import parse_retry_after

        ctx: dict[str, object] = {"status": r.status_code}
        if isinstance(got.get("class"), str):
            ctx["class"] = got["class"]
        wait = parse_retry_after(r.headers.get("retry-after"), r.headers.get("date"))
        if wait is not None:
            ctx["retry_after_s"] = wait
        code = str(got.get("code", codes.SERVICE_SPECIFIC))
        msg = f"server {self.url}: {got.get('msg', r.reason_phrase)}"
        return Err(ErrInfo(code, msg, Stage.SERVER, ctx=ctx))

    def collection(self) -> Result[str, ErrInfo]:
        """The collection the server serves (``/readyz``)."""
        got = self.call("GET", "/readyz")
        if isinstance(got, Err):
            return got
        doc = got.value
        name = doc.get("collection") if isinstance(doc, dict) else None
        if not isinstance(name, str):
            return _err(codes.SERVICE_SPECIFIC, f"server {self.url}: names no collection")
        return Ok(name)

    def search(self, query: str, options: SearchOptions) -> Result[list[SearchHit], ErrInfo]:
        """``POST /v1/search`` (a repeated ``where`` field: any of its values)."""
        fields: dict[str, list[str]] = {}
        for name, value in options.where:
            fields.setdefault(name, []).append(value)
        body: dict[str, object] = {
            "query": query,
            "k": options.k,
            "source": list(options.source),
            "where": fields,
        }
        if options.per_source is not None:
            body["per_source"] = options.per_source
        got = self.call("POST", "/v1/search", json=body)
        if isinstance(got, Err):
            return got
        return _decode_list(SearchHit, _with_locator_pairs(got.value), self.url)

    def sources(self) -> Result[list[SourceEntry], ErrInfo]:
        """``GET /v1/sources``."""
        got = self.call("GET", "/v1/sources")
        return got if isinstance(got, Err) else _decode_list(SourceEntry, got.value, self.url)

    def stats(self) -> Result[CollectionStats, ErrInfo]:
        """``GET /v1/stats``."""
        got = self.call("GET", "/v1/stats")
        return got if isinstance(got, Err) else _decode(CollectionStats, got.value, self.url)

    def verify(self, *, repair: bool) -> Result[VerifyOutcome, ErrInfo]:
        """``POST /v1/verify`` (a repair changes state: never a GET)."""
        got = self.call("POST", "/v1/verify", json={"repair": repair})
        if isinstance(got, Err):
            return got
        return _verify_outcome(got.value, repair=repair, server=self.url)

    def ingest(
        self,
        roots: Sequence[str],
        *,
        prune: bool,
        dry_run: bool,
        include: Sequence[str],
        exclude: Sequence[str],
        spec: str | None,
        collection: str | None,
    ) -> Result[RemoteJob, ErrInfo]:
        """``POST /v1/ingest`` then poll the job until it ends. Paths are sent absolute (the
        server reads them); the spec travels as its JSON text (the server checks its hashes)."""
        sent = {
            "paths": [os.path.abspath(r) for r in roots if not _is_url(r)],
            "urls": [r for r in roots if _is_url(r)],
            "prune": prune,
            "dry_run": dry_run,
            "include": list(include),
            "exclude": list(exclude),
            "spec": spec,
            "collection": collection,
        }
        started = self.call("POST", "/v1/ingest", json=sent, retry=False)
        if isinstance(started, Err):
            return started
        job = started.value.get("job") if isinstance(started.value, dict) else None
        if not isinstance(job, str):
            return _err(codes.SERVICE_SPECIFIC, f"server {self.url}: no job id")
        while True:
            got = self.call("GET", f"/v1/jobs/{job}")
            if isinstance(got, Err):
                return got
            doc = got.value
            if isinstance(doc, dict) and doc.get("status") not in ("queued", "running"):
                return self._finished(doc)
            time.sleep(POLL_S)

    def _finished(self, doc: Mapping[str, object]) -> Result[RemoteJob, ErrInfo]:
        error = doc.get("error")
        if doc.get("status") == "failed" and isinstance(error, dict):
            ctx = {"class": error["class"]} if isinstance(error.get("class"), str) else {}
            return Err(
                ErrInfo(str(error.get("code")), str(error.get("msg")), Stage.SERVER, ctx=ctx)
            )
        report = _decode(IngestReport, doc.get("report"), self.url)
        if isinstance(report, Err):
            return report
        plan = doc.get("plan")
        lines = tuple(str(x) for x in plan) if isinstance(plan, list) else ()
        sent = doc.get("class")
        failure = Failure(sent) if isinstance(sent, str) and sent in set(Failure) else None
        return Ok(RemoteJob(report.value, lines, doc.get("status") == "interrupted", failure))


def _with_locator_pairs(doc: object) -> object:
    """Hits as ``SearchHit`` reads them: a ``locator`` object (JSON) as its ordered pairs."""
    if not isinstance(doc, list):
        return doc
    return [
        {**h, "locator": list(h["locator"].items())}
        if isinstance(h, dict) and isinstance(h.get("locator"), dict)
        else h
        for h in doc
    ]


def _is_url(root: str) -> bool:
    return root.lower().startswith(("http://", "https://"))


def _verify_outcome(doc: object, *, repair: bool, server: str) -> Result[VerifyOutcome, ErrInfo]:
    if not isinstance(doc, dict):
        return _err(codes.SERVICE_SPECIFIC, f"server {server}: malformed verify answer")
    final = _decode(VerifyReport, {**doc, "repair_deletes": []}, server)
    if isinstance(final, Err):
        return final
    if not repair:
        return Ok(VerifyOutcome(final.value))
    found = _decode(
        VerifyReport,
        {
            "sources": final.value.sources,
            "points": final.value.points,
            "problems": doc.get("repaired", []),
            "repair_deletes": doc.get("removed", []),
        },
        server,
    )
    if isinstance(found, Err):
        return found
    return Ok(VerifyOutcome(final.value, found.value))
