"""ErrInfo -> HTTP status and the ``{"code", "msg", "class"}`` body every error response has.

Both come from the app's one failure model (``http_status``, ``error_body``); the class tells
a client (the CLI's ``--server`` twin) how to exit without guessing from the status.
"""

from __future__ import annotations

from funcpipe.result import ErrInfo

from funcpipe_rag.app import Stage, error_body, http_status


def status_for(e: ErrInfo) -> int:
    """The failure model's status: 400 invalid input; 401 auth; 403 refused by the read guard;
    404 unknown job, source or collection; 409 identity mismatch or an ingest running; 413 too
    large; 503 a backend (store, embedder, network, disk) unavailable; 500 anything else."""
    return http_status(e)


def body_of(e: ErrInfo) -> dict[str, str]:
    """The error body of ``e``: code, one-line message, class."""
    return error_body(e)


def body(code: str, msg: str) -> dict[str, str]:
    """The body of a refusal the HTTP shell itself makes (a request error: class ``usage``,
    or ``cancelled`` for ``CANCELLED``)."""
    return error_body(ErrInfo(code, msg, stage=Stage.USAGE))
