"""Failures -> one line (problem, code, fix) on stderr and the exit code of their class.

The class comes from the app's one failure model (``exit_code``); the hint from the code and
stage, never from message text. Drivers: ``drive`` runs a coroutine through the runtime and
ends the command on any ``Err``; ``settings_of`` loads settings or ends it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

import typer
from funcpipe.adapters.runtime import run_main
from funcpipe.result import Err, ErrInfo, Result, codes
from rich.markup import escape

from funcpipe_rag.app import (
    NO_SPACE,
    SPEC_CODES,
    STORE_LOCKED,
    Failure,
    Settings,
    Stage,
    classify,
    exit_code,
    load_settings,
    owner_of,
)

from ._io import err_console, one_line

T = TypeVar("T")


def exit_code_for(e: ErrInfo) -> int:
    """The contract's exit code of a failure (rag-app.md): the failure model's."""
    return exit_code(e)


def command_path(argv: Sequence[str] | None = None) -> str:
    """The command being run, as the user typed it (``funcpipe-rag spec show``)."""
    words = []
    for a in (sys.argv[1:] if argv is None else argv)[:2]:
        if a.startswith("-"):
            break
        words.append(a)
    if words and words[0] not in ("spec", "collection"):
        words = words[:1]
    return " ".join(["funcpipe-rag", *words])


def _store_hint(e: ErrInfo, settings: Settings | None, data_dir: Path) -> str:
    if e.code == NO_SPACE:
        return f"free some space under {data_dir}, or pass another --data-dir"
    if e.code == STORE_LOCKED:
        owner = owner_of(data_dir)
        if owner is not None:
            return (
                f"a funcpipe-rag server owns {data_dir}: "
                f"use --server {owner} (or FUNCPIPE_SERVER={owner})"
            )
        return (
            f"another funcpipe-rag process is using {data_dir}: "
            "wait for it, or use another --data-dir"
        )
    if settings and settings.qdrant_url:
        return "is Qdrant reachable at --qdrant-url / FUNCPIPE_QDRANT_URL (and the API key right)?"
    return f"check that {data_dir} is writable (or pass --data-dir), then run again"


def hint(e: ErrInfo, settings: Settings | None) -> str:
    """The fix to print after a failure."""
    data_dir = settings.data_dir if settings else Path(".funcpipe")
    failure = classify(e)
    if failure is Failure.CANCELLED:
        return "run the same command again; re-runs are safe"
    if e.stage == Stage.SERVER:
        if failure is Failure.BACKEND:
            return "is the server at --server / FUNCPIPE_SERVER running and reachable?"
        if e.code == codes.AUTH:
            return "set FUNCPIPE_API_KEY to the server's key"
        return f"see: {command_path()} --help"
    if e.stage == Stage.USAGE:
        return f"see: {command_path()} --help"
    if e.stage == Stage.QUERY:
        return "give QUERY a few words to look for"
    if e.stage == Stage.CLUSTER and e.code == codes.NETWORK:
        return "check --dask / FUNCPIPE_DASK: is a dask scheduler running at that address?"
    if e.code == codes.HASH_MISMATCH:
        return "if you edited the spec on purpose, re-seal it: funcpipe-rag spec seal FILE"
    if e.stage == Stage.SPECS or e.code in SPEC_CODES:
        return "fix the spec file (check it with: funcpipe-rag spec validate FILE)"
    if e.code == codes.NOT_FOUND and e.stage in (Stage.CONFIG, Stage.STORE):
        return (
            "nothing ingested into this collection yet: run funcpipe-rag ingest PATH first, "
            "or name another with --collection or --spec (see: funcpipe-rag collections)"
        )
    if e.code == codes.DIMENSION_MISMATCH or e.ctx.get("identity"):
        return "use another --collection, or the embedder the collection was written with"
    if e.stage == Stage.CONFIG:
        return "fix the flag or the FUNCPIPE_* environment variable (see --help)"
    if e.stage == Stage.STORE or e.code in (NO_SPACE, STORE_LOCKED):
        return _store_hint(e, settings, data_dir)
    if e.stage == Stage.EMBED:
        if e.code == codes.AUTH:
            return "check FUNCPIPE_EMBED_API_KEY"
        if e.code == codes.INVALID_INPUT:
            return "set FUNCPIPE_EMBED_URL to an http(s):// URL, or unset it for the bundled model"
        return (
            "check FUNCPIPE_EMBED_URL / FUNCPIPE_EMBED_MODEL, "
            "or unset them to use the bundled model"
        )
    if e.code == codes.INVALID_INPUT:
        return f"see: {command_path()} --help"
    return "run again; if it persists, report it with the command you ran"


def fail(e: ErrInfo, settings: Settings | None = None) -> NoReturn:
    """Print one line (problem, code, fix) to stderr and exit with the class's code."""
    err_console.print(
        f"funcpipe-rag: {escape(one_line(e.msg))} [{e.code}]. Fix: {escape(hint(e, settings))}"
    )
    raise typer.Exit(exit_code(e))


def usage_error(msg: str) -> NoReturn:
    """Exit 2 with one line: a usage error of the current command."""
    fail(ErrInfo(codes.INVALID_INPUT, msg, stage=Stage.USAGE))


def ok_or_fail(got: Result[T, ErrInfo], settings: Settings | None = None) -> T:
    """The value, or the command ends with the failure."""
    if isinstance(got, Err):
        fail(got.error, settings)
    return got.value


def drive(
    main: Callable[[], Coroutine[object, object, Result[T, ErrInfo]]],
    settings: Settings | None = None,
) -> T:
    """Run ``main`` through the runtime; any Err ends the command with its exit code
    (``-v`` re-raises an unexpected failure's exception, for a bug report)."""
    res = run_main(main)
    if isinstance(res, Err):
        e = res.error
        if e.code == codes.UNEXPECTED and e.cause is not None and "-v" in sys.argv:
            raise e.cause
        fail(e, settings)
    return ok_or_fail(res.value, settings)


def settings_of(**flags: object) -> Settings:
    """The settings (flags over ``FUNCPIPE_*`` variables), or exit 2."""
    return ok_or_fail(load_settings(**flags))
