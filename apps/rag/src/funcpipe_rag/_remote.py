"""The CLI's client of a running ``funcpipe-rag serve`` (``--server URL`` / ``FUNCPIPE_SERVER``).

Each call returns the same JSON the local command prints, or ``Err``: the server's
``{"code","msg"}`` (stage ``usage`` for 4xx, ``store`` for 503), ``NETWORK`` (stage ``store``)
when it cannot be reached. The bearer key is ``FUNCPIPE_API_KEY``.
"""

from __future__ import annotations

import os
import time

from funcpipe.result import Err, ErrInfo, Ok, Result, codes

POLL_S = 0.2


def _headers() -> dict[str, str]:
    key = os.environ.get("FUNCPIPE_API_KEY")
    return {"authorization": f"Bearer {key}"} if key else {}


def _call(method: str, server: str, path: str, **kw: object) -> Result[object, ErrInfo]:
    import httpx  # loaded only when a server is used (start-up time)

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
        return Err(ErrInfo(code, msg, stage, ctx={"status": r.status_code}))
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
    """``GET /v1/verify`` (``POST`` to repair: a GET never changes state): as
    ``verify --json``."""
    if repair:
        return _call("POST", server, "/v1/verify", json={"repair": True})
    return _call("GET", server, "/v1/verify")


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
    started = _call("POST", server, "/v1/ingest", json=sent)
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
