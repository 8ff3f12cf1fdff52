"""The routes that change the store, each one explicit (state changes only on POST/DELETE):

- ``DELETE /v1/sources/{key}``: exactly that key (``*``, ``%2A``, ``[`` are just characters);
  404 ``NOT_FOUND`` when it is not stored, so a client's retry is harmless.
- ``POST /v1/sources:delete`` ``{"glob", "dry_run"}``: every source the glob matches (``*``
  crosses ``/``); ``dry_run`` reports the count and keys and changes nothing. A glob that
  matches nothing is 200 with ``matched: 0``.

Errors: 409 ``INGEST_RUNNING`` while a job runs; 400 for a bad body; store errors as
``status_for``.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from funcpipe.result import Err, ErrInfo
from pydantic import BaseModel, ConfigDict, Field

from funcpipe_rag.app.service import Service

from ._errors import body, body_of, status_for

MAX_KEY_CHARS = 4096
MAX_GLOB_CHARS = 1024


class GlobDelete(BaseModel):
    model_config = ConfigDict(extra="forbid")
    glob: str = Field(
        min_length=1, max_length=MAX_GLOB_CHARS, description="a glob over keys (* ? [...])"
    )
    dry_run: bool = Field(default=False, description="count and list; delete nothing")


def _error(e: ErrInfo) -> JSONResponse:
    return JSONResponse(body_of(e), status_code=status_for(e))


def add_change_routes(
    api: FastAPI, service: Service, responses: dict[int | str, dict[str, object]]
) -> None:
    """Mount the routes above on ``api`` (``responses``: the OpenAPI error responses)."""

    @api.delete("/v1/sources/{key:path}", summary="Delete one source", responses=responses)
    async def delete_source(key: str) -> Response:
        if len(key) > MAX_KEY_CHARS or "\x00" in key:
            msg = f"a source key is at most {MAX_KEY_CHARS} chars, without NUL"
            return JSONResponse(body("INVALID_INPUT", msg), status_code=400)
        got = await service.delete(key)
        if isinstance(got, Err):
            return _error(got.error)
        report = got.value
        if not report.deleted and report.errors:
            e = report.errors[0]
            return JSONResponse(body(e.code, e.msg), status_code=404)
        return JSONResponse(report.to_json())

    @api.post(
        "/v1/sources:delete", summary="Delete the sources a glob matches", responses=responses
    )
    async def delete_glob(req: GlobDelete) -> Response:
        got = await service.delete(req.glob, glob=True, dry_run=req.dry_run)
        if isinstance(got, Err):
            return _error(got.error)
        r = got.value
        failed = [
            {"source": e.source, "code": e.code, "msg": e.msg}
            for e in r.errors
            if e.code != "NOT_FOUND"  # the glob matched nothing: matched is 0
        ]
        return JSONResponse(
            {**r.to_json(), "errors": failed, "matched": len(r.deleted), "dry_run": req.dry_run}
        )
