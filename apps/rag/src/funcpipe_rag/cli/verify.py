"""``funcpipe-rag verify``: check (and repair) the store's invariants."""

from __future__ import annotations

from typing import Annotated

import typer

from funcpipe_rag.app import EXIT_CODES, EXIT_OK, Failure, VerifyOutcome, read_spec, run_verify

from . import _render
from ._app import SERVER_ENV, STORE_ENV, CleanCommand, cli
from ._fail import drive, ok_or_fail, settings_of
from ._options import CollectionOpt, DataDirOpt, JsonOpt, QdrantOpt, ServerOpt, SpecOpt
from ._settings import with_collection
from ._target import same_collection, server_for


@cli.command(cls=CleanCommand, epilog=STORE_ENV + SERVER_ENV)
def verify(
    repair: Annotated[
        bool,
        typer.Option(
            "--repair", help="Delete what breaks the invariants (the next ingest restores it)."
        ),
    ] = False,
    collection: CollectionOpt = None,
    data_dir: DataDirOpt = None,
    qdrant_url: QdrantOpt = None,
    spec: SpecOpt = None,
    server: ServerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check that every committed source's points match its version, with no orphan,
    duplicate or half-written source. Exit 4 when a problem remains.

    With --repair --json, "repaired" lists the problems found and "removed" the ids of the
    points deleted.
    """
    loaded = ok_or_fail(read_spec(spec)) if spec is not None else None
    if server:
        remote = server_for(server, {"--data-dir": data_dir, "--qdrant-url": qdrant_url})
        same_collection(remote, settings_of(collection=collection), loaded)
        outcome = ok_or_fail(remote.verify(repair=repair))
    else:
        settings = with_collection(
            settings_of(collection=collection, data_dir=data_dir, qdrant_url=qdrant_url), loaded
        )
        found, after = drive(lambda: run_verify(settings, repair=repair), settings)
        outcome = VerifyOutcome(after if after is not None else found, found if repair else None)
    _render.verify(outcome, json_out=json_out)
    raise typer.Exit(EXIT_OK if outcome.final.ok else EXIT_CODES[Failure.PARTIAL])
