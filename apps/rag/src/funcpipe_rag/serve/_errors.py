"""ErrInfo -> HTTP status and the ``{"code", "msg"}`` body every error response has."""

from __future__ import annotations

from funcpipe.result import ErrInfo, codes

from funcpipe_rag.app import INGEST_RUNNING

_BY_CODE: dict[str, int] = {
    codes.INVALID_INPUT: 400,
    codes.EMPTY_INPUT: 400,
    codes.PARSE_ERROR: 400,
    codes.DECODE_ERROR: 400,
    codes.UNSUPPORTED: 400,
    codes.INVALID_SPEC: 400,
    codes.AUTH: 401,
    codes.PERMISSION_DENIED: 403,
    codes.NOT_FOUND: 404,
    INGEST_RUNNING: 409,
    codes.DIMENSION_MISMATCH: 409,
    codes.TOO_LARGE: 413,
    codes.RATE_LIMIT: 503,
    codes.NETWORK: 503,
    codes.TIMEOUT: 503,
    codes.TRANSIENT: 503,
    codes.DB_ERROR: 503,
    codes.FATAL_DB: 503,
    "NO_SPACE": 503,
    codes.CANCELLED: 503,
}


def status_for(e: ErrInfo) -> int:
    """400 invalid input; 401 auth; 403 refused by the read guard; 404 unknown job, source or
    collection; 409 identity mismatch or an ingest running; 413 too large; 503 a backend (store,
    embedder, network, disk) unavailable; 500 anything else."""
    if e.stage == "config" and e.code == codes.INVALID_INPUT:
        return 409  # the collection was written by another embedder: an identity mismatch
    if e.stage in ("store", "embed") and e.code not in (codes.NOT_FOUND, codes.DIMENSION_MISMATCH):
        return 503
    return _BY_CODE.get(e.code, 500)


def body(code: str, msg: str) -> dict[str, str]:
    return {"code": code, "msg": " ".join(msg.split())}
