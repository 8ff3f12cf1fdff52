"""The CLI's client of a running ``funcpipe-rag serve`` (``--server URL`` / ``FUNCPIPE_SERVER``).

Each call returns the same JSON the local command prints, or ``Err``: the server's
``{"code","msg"}`` (stage ``usage`` for 4xx, ``store`` for 503), ``NETWORK`` (stage ``store``)
when it cannot be reached. The bearer key is ``FUNCPIPE_API_KEY``.

A ``503 OVERLOADED`` (the server shed the request) is retried by ``OVERLOAD_RETRY`` through
the library's ``async_with_resilience``: the server's ``Retry-After`` (``ctx["retry_after_s"]``)
sets each wait, and each wait is said on stderr. Every call but ``POST /v1/ingest`` (not
idempotent) is retried; after the last attempt the server's own error is returned.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time

from funcpipe.adapters.runtime import run_main
from funcpipe.async_plan import async_with_resilience
from funcpipe.policies import ResilienceEnv, RetryPolicy, SystemClock
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

POLL_S = 0.2
OVERLOADED = "OVERLOADED"
OVERLOAD_RETRY = RetryPolicy(
    max_attempts=6,
    retriable_codes=frozenset({OVERLOADED}),
    backoff_base_ms=500,
    max_backoff_ms=10_000,
)


def _headers() -> dict[str, str]:
    key = os.environ.get("FUNCPIPE_API_KEY")
    return {"authorization": f"Bearer {key}"} if key else {}


def _call(
    method: str, server: str, path: str, *, retry: bool = True, **kw: object
) -> Result[object, ErrInfo]:
    """One request, retried past ``503 OVERLOADED`` when ``retry`` (see the module)."""
    if not retry:
        return _once(method, server, path, **kw)
    attempt = [1]

    async def _attempt() -> Result[object, ErrInfo]:
        return _once(method, server, path, **kw)

    async def _wait(seconds: float) -> None:
        attempt[0] += 1
        print(
            f"funcpipe-rag: the server at {server} is overloaded (503 {OVERLOADED}); retrying in "
            f"{seconds:.1f} s as its Retry-After asks (attempt {attempt[0]} of "
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


def _once(method: str, server: str, path: str, **kw: object) -> Result[object, ErrInfo]:
    import httpx  # loaded only when a server is used (start-up time)
    from funcpipe.adapters.http import parse_retry_after

    url = server.rstrip("/") + path
    try:
        r = httpx.request(method, url, headers=_headers(), timeout=60, **kw)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        return Err(ErrInfo(codes.NETWORK, f"cannot reach the server at {server}: {exc}", "store"))
    try:
        doc: object = r.json()
    except ValueError:
        doc = None
    if r.status_code >= 400:
        got = doc if isinstance(doc, dict) else {}
        code = str(got.get("code", codes.SERVICE_SPECIFIC))
        msg = f"server {server}: {got.get('msg', r.reason_phrase)}"
        stage = "store" if r.status_code >= 500 else "usage"
        ctx: dict[str, object] = {"status": r.status_code}
        wait = parse_retry_after(r.headers.get("retry-after"), r.headers.get("date"))
        if wait is not None:
            ctx["retry_after_s"] = wait
        return Err(ErrInfo(code, msg, stage, ctx=ctx))
    return Ok(doc)


def search(
    server: str,
    query: str,
    k: int,
    *,
    per_source: int | None = None,
    source: tuple[str, ...] = (),
    where: tuple[tuple[str, str], ...] = (),
) -> Result[object, ErrInfo]:
    """``POST /v1/search``: the hits as ``search --json`` (a repeated ``where`` field: any of
    its values)."""
    fields: dict[str, list[str]] = {}
    for name, value in where:
        fields.setdefault(name, []).append(value)
    body: dict[str, object] = {"query": query, "k": k, "source": list(source), "where": fields}
    if per_source is not None:
        body["per_source"] = per_source
    return _call("POST", server, "/v1/search", json=body)


def sources(server: str) -> Result[object, ErrInfo]:
    """``GET /v1/sources``: as ``sources --json``."""
    return _call("GET", server, "/v1/sources")


def stats(server: str) -> Result[object, ErrInfo]:
    """``GET /v1/stats``: as ``stats --json``."""
    return _call("GET", server, "/v1/stats")


def verify(server: str, *, repair: bool) -> Result[object, ErrInfo]:
    """``GET /v1/verify``: as ``verify --json``."""
    return _call("GET", server, "/v1/verify", params={"repair": str(repair).lower()})


def ingest(
    server: str, roots: list[str], *, prune: bool, dry_run: bool
) -> Result[dict[str, object], ErrInfo]:
    """``POST /v1/ingest`` then poll the job until it ends: the finished job document (its
    ``report`` is ``ingest --json``). Paths are sent absolute (the server reads them)."""
    paths = [r for r in roots if not r.startswith(("http://", "https://"))]
    urls = [r for r in roots if r.startswith(("http://", "https://"))]
    sent = {
        "paths": [os.path.abspath(p) for p in paths],
        "urls": urls,
        "prune": prune,
        "dry_run": dry_run,
    }
    started = _call("POST", server, "/v1/ingest", retry=False, json=sent)
    if isinstance(started, Err):
        return started
    job = started.value.get("job") if isinstance(started.value, dict) else None
    if not isinstance(job, str):
        return Err(ErrInfo(codes.SERVICE_SPECIFIC, f"server {server}: no job id", "store"))
    while True:
        got = _call("GET", server, f"/v1/jobs/{job}")
        if isinstance(got, Err):
            return got
        doc = got.value
        if isinstance(doc, dict) and doc.get("status") not in ("queued", "running"):
            return Ok(doc)
        time.sleep(POLL_S)
