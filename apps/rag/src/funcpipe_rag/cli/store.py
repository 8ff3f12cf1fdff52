"""Store commands: ``collections``, ``stats``, ``sources``, ``delete``, ``collection drop``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from funcpipe_rag.app import (
    EXIT_CODES,
    EXIT_OK,
    Failure,
    Settings,
    run_collections,
    run_delete,
    run_drop,
    run_sources,
    run_stats,
)

from . import _render
from ._app import SERVER_ENV, STORE_ENV, CleanCommand, cli, collection_cli
from ._fail import drive, ok_or_fail, settings_of, usage_error
from ._options import CollectionOpt, DataDirOpt, JsonOpt, QdrantOpt, ServerOpt
from ._settings import with_collection
from ._target import same_collection, server_for


def _store(collection: str | None, data_dir: Path | None, qdrant_url: str | None) -> Settings:
    return with_collection(
        settings_of(collection=collection, data_dir=data_dir, qdrant_url=qdrant_url), None
    )


@cli.command(cls=CleanCommand, epilog=STORE_ENV)
def collections(
    data_dir: DataDirOpt = None,
    qdrant_url: QdrantOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List the store's collections: points, committed sources and embedder of each."""
    settings = _store(None, data_dir, qdrant_url)
    _render.collections(drive(lambda: run_collections(settings), settings), json_out=json_out)


@cli.command(cls=CleanCommand, epilog=STORE_ENV + SERVER_ENV)
def stats(
    collection: CollectionOpt = None,
    data_dir: DataDirOpt = None,
    qdrant_url: QdrantOpt = None,
    server: ServerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show a collection's points, chunks, sources, embedder, spec hashes, size on disk and
    search config."""
    if server:
        remote = server_for(server, {"--data-dir": data_dir, "--qdrant-url": qdrant_url})
        same_collection(remote, settings_of(collection=collection), None)
        _render.stats(ok_or_fail(remote.stats()), json_out=json_out)
        return
    settings = _store(collection, data_dir, qdrant_url)
    name = settings.collection or "funcpipe"
    _render.stats(drive(lambda: run_stats(settings, name), settings), json_out=json_out)


@cli.command(cls=CleanCommand, epilog=STORE_ENV + SERVER_ENV)
def sources(
    collection: CollectionOpt = None,
    data_dir: DataDirOpt = None,
    qdrant_url: QdrantOpt = None,
    server: ServerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List the committed sources: key, version (hash of the text) and chunk count."""
    if server:
        remote = server_for(server, {"--data-dir": data_dir, "--qdrant-url": qdrant_url})
        same_collection(remote, settings_of(collection=collection), None)
        _render.sources(ok_or_fail(remote.sources()), json_out=json_out)
        return
    settings = _store(collection, data_dir, qdrant_url)
    name = settings.collection or "funcpipe"
    _render.sources(drive(lambda: run_sources(settings, name), settings), json_out=json_out)


@cli.command(cls=CleanCommand, epilog=STORE_ENV)
def delete(
    patterns: Annotated[
        list[str],
        typer.Argument(
            help="Source keys (as `sources` prints them) or globs over keys "
            "(* ? [...]; * also matches /). Quote globs for the shell.",
            metavar="SOURCE_OR_GLOB...",
        ),
    ],
    exact: Annotated[
        bool,
        typer.Option("--exact", help="Keys only: * ? [ are plain characters (as DELETE /v1)."),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="List and count what would be deleted; change nothing."),
    ] = False,
    collection: CollectionOpt = None,
    data_dir: DataDirOpt = None,
    qdrant_url: QdrantOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Delete stored sources through the ingestion protocol (chunks first, marker last): a
    delete cut short is finished by running it again. Exit 4 when a SOURCE matched nothing."""
    settings = _store(collection, data_dir, qdrant_url)
    name = settings.collection or "funcpipe"
    rep = drive(
        lambda: run_delete(settings, name, patterns, exact=exact, dry_run=dry_run), settings
    )
    _render.deleted(rep, json_out=json_out, dry_run=dry_run)
    if any(e.backend for e in rep.errors):
        raise typer.Exit(EXIT_CODES[Failure.BACKEND])
    raise typer.Exit(EXIT_CODES[Failure.PARTIAL] if rep.errors else EXIT_OK)


@collection_cli.command("drop", cls=CleanCommand, epilog=STORE_ENV)
def collection_drop(
    name: Annotated[str, typer.Argument(help="The collection to delete.", metavar="NAME")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: every point of NAME is deleted.")
    ] = False,
    data_dir: DataDirOpt = None,
    qdrant_url: QdrantOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Delete collection NAME with all its points (needs --yes; no undo)."""
    if not yes:
        usage_error(f"dropping {name!r} deletes all its points: add --yes to confirm")
    settings = _store(None, data_dir, qdrant_url)
    _render.dropped(drive(lambda: run_drop(settings, name), settings), json_out=json_out)
