"""One failure model: every error belongs to one class, and the shells read only the class.

Classes (``Failure``): ``usage`` (usage, configuration or spec: exit 2, HTTP 4xx), ``backend``
(a store, embedder, network, cluster or disk unavailable: exit 3, HTTP 503), ``partial`` (the
run finished but some sources failed: exit 4), ``cancelled`` (a signal: exit 130 / 143) and
``unexpected`` (a bug: exit 1, HTTP 500).

``classify`` is the only decision: the CLI's exit code, the server's status and the client all
read it. A server sends the class with every error (``{"code", "msg", "class"}``); the client
keeps it in ``ctx["class"]``, so a remote error classifies exactly as the local one did. No
decision reads message text: a locked store is ``STORE_LOCKED`` and a full disk ``NO_SPACE``,
as codes.

Stages are a closed set (``Stage``): where in the app an error arose.
"""

from __future__ import annotations

from enum import StrEnum

from funcpipe.result import ErrInfo, codes


class Stage(StrEnum):
    """Where an error arose (``ErrInfo.stage``)."""

    USAGE = "usage"
    CONFIG = "config"
    SPECS = "specs"
    QUERY = "query"
    READ = "read"
    EXTRACT = "extract"
    PARSE = "parse"
    EMBED = "embed"
    STORE = "store"
    CLUSTER = "cluster"
    SERVER = "server"
    CHAT = "chat"
    """The chat model of ``ask`` (a backend)."""


class Failure(StrEnum):
    """The class of a failure: what a shell does with it."""

    USAGE = "usage"
    BACKEND = "backend"
    PARTIAL = "partial"
    CANCELLED = "cancelled"
    UNEXPECTED = "unexpected"


NO_SPACE = "NO_SPACE"
"""Too little free space under the data dir (a backend problem: exit 3)."""
STORE_LOCKED = "STORE_LOCKED"
"""The embedded store is open in another process (a backend problem: exit 3)."""
INGEST_RUNNING = "INGEST_RUNNING"
"""A second ingest while one runs in the same server (HTTP 409)."""
OVERLOADED = "OVERLOADED"
"""The server sheds the request: come back after ``Retry-After`` (HTTP 503)."""


def identity_mismatch(msg: str) -> ErrInfo:
    """A collection written by another embedder, chunking or sparse index: refused, never
    mixed (a configuration error: exit 2, HTTP 409; ``ctx["identity"]`` marks it)."""
    return ErrInfo(codes.INVALID_INPUT, msg, stage=Stage.CONFIG, ctx={"identity": True})


SPEC_CODES = frozenset(
    {
        codes.INVALID_SPEC,
        codes.HASH_MISMATCH,
        codes.UNALLOWED_OP,
        codes.UNKNOWN_OP,
        codes.VERSION_MISMATCH,
        codes.MISSING_FIELD,
        codes.RECONSTRUCT_FAIL,
    }
)
"""The codes of a spec that cannot run (on the command or on a worker): a configuration
error (exit 2) that ends a run, never a per-source failure."""

USAGE_STAGES = frozenset({Stage.USAGE, Stage.CONFIG, Stage.SPECS, Stage.QUERY})
BACKEND_STAGES = frozenset({Stage.EMBED, Stage.STORE, Stage.CLUSTER, Stage.CHAT})
_USAGE_CODES = SPEC_CODES | {codes.INVALID_INPUT, codes.DIMENSION_MISMATCH, INGEST_RUNNING}
_BACKEND_CODES = frozenset(
    {codes.NETWORK, codes.AUTH, codes.TIMEOUT, NO_SPACE, STORE_LOCKED, OVERLOADED}
)

EXIT_OK = 0
EXIT_CODES: dict[Failure, int] = {
    Failure.USAGE: 2,
    Failure.BACKEND: 3,
    Failure.PARTIAL: 4,
    Failure.CANCELLED: 130,
    Failure.UNEXPECTED: 1,
}
EXIT_SIGTERM = 143


def classify(e: ErrInfo) -> Failure:
    """The class of a failure that ends a command or a request.

    A class a server sent (``ctx["class"]``) wins; then: ``CANCELLED`` -> cancelled; a usage,
    config, spec or query stage, a spec code, invalid input, a dimension mismatch, a running
    ingest, or a missing collection (``NOT_FOUND`` at the store) -> usage; a backend stage or a
    network, auth, timeout, disk-space, lock or overload code -> backend; else unexpected.
    """
    sent = e.ctx.get("class")
    if isinstance(sent, str) and sent in Failure.__members__.values():
        return Failure(sent)
    if e.code == codes.CANCELLED:
        return Failure.CANCELLED
    if e.stage in USAGE_STAGES or e.code in _USAGE_CODES:
        return Failure.USAGE
    if e.stage == Stage.STORE and e.code == codes.NOT_FOUND:
        return Failure.USAGE  # no such collection: a wrong --data-dir / --collection
    if e.stage in BACKEND_STAGES or e.code in _BACKEND_CODES:
        return Failure.BACKEND
    return Failure.UNEXPECTED


def is_backend(e: ErrInfo) -> bool:
    """A per-source failure that is the backend's, not the source's (its run exits 3)."""
    return e.stage in BACKEND_STAGES or e.code in (NO_SPACE, STORE_LOCKED)


def exit_code(e: ErrInfo) -> int:
    """The exit code of a failure (rag-app.md): 2 usage, 3 backend, 130/143 signal, 1 else."""
    failure = classify(e)
    if failure is Failure.CANCELLED and e.ctx.get("signal") == "SIGTERM":
        return EXIT_SIGTERM
    return EXIT_CODES[failure]


_USAGE_STATUS: dict[str, int] = {
    codes.AUTH: 401,
    codes.PERMISSION_DENIED: 403,
    codes.NOT_FOUND: 404,
    INGEST_RUNNING: 409,
    codes.DIMENSION_MISMATCH: 409,
    codes.TOO_LARGE: 413,
}


def http_status(e: ErrInfo) -> int:
    """The HTTP status of a failure: a usage error's by its code (400 by default; 401 auth;
    403 refused; 404 not found; 409 an identity mismatch or a running ingest; 413 too large),
    503 for a backend or a cancelled request, 500 for anything unexpected."""
    failure = classify(e)
    if failure is Failure.USAGE or e.code in _USAGE_STATUS:
        if e.ctx.get("identity"):
            return 409  # the collection was written by another embedder: an identity mismatch
        return _USAGE_STATUS.get(e.code, 400)
    if failure in (Failure.BACKEND, Failure.CANCELLED):
        return 503
    if e.code in (codes.EMPTY_INPUT, codes.PARSE_ERROR, codes.DECODE_ERROR, codes.UNSUPPORTED):
        return 400
    return 500


def error_body(e: ErrInfo) -> dict[str, str]:
    """The body of every error response: code, one-line message and class."""
    return {"code": e.code, "msg": " ".join(e.msg.split()), "class": classify(e).value}
