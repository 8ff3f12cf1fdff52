"""``funcpipe-rag search``: the best chunks for a query."""

from __future__ import annotations

from typing import Annotated

import typer

from funcpipe_rag.app import SearchOptions, parse_where, read_spec, run_search

from . import _render
from ._app import EMBED_ENV, SERVER_ENV, STORE_ENV, CleanCommand, cli
from ._fail import drive, ok_or_fail, settings_of, usage_error
from ._options import (
    CollectionOpt,
    DataDirOpt,
    JsonOpt,
    QdrantOpt,
    ServerOpt,
    SourceOpt,
    SpecOpt,
    WhereOpt,
)
from ._settings import with_collection
from ._target import same_collection, server_for


@cli.command(cls=CleanCommand, epilog=STORE_ENV + EMBED_ENV + SERVER_ENV)
def search(
    query: Annotated[
        str, typer.Argument(help="What to look for, in plain words.", metavar="QUERY")
    ],
    k: Annotated[
        int, typer.Option("-k", metavar="N", min=1, max=1000, help="How many hits (1-1000).")
    ] = 5,
    per_source: Annotated[
        int | None,
        typer.Option(
            "--per-source",
            metavar="N",
            min=1,
            max=1000,
            help="At most N hits from one source (default: the collection's spec, 1).",
        ),
    ] = None,
    source: SourceOpt = None,
    where: WhereOpt = None,
    collection: CollectionOpt = None,
    data_dir: DataDirOpt = None,
    qdrant_url: QdrantOpt = None,
    spec: SpecOpt = None,
    server: ServerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Print the best chunks for QUERY, best first: source key, character offsets into the
    source, title and heading path, and the readable text.

    The collection is searched the way it was written (its spec's search mode: hybrid dense +
    BM25 by default, fused by RRF)."""
    try:
        options = SearchOptions(k, per_source, tuple(source or ()), parse_where(where or []))
    except ValueError as exc:
        usage_error(str(exc))
    loaded = ok_or_fail(read_spec(spec)) if spec is not None else None
    if server:
        remote = server_for(server, {"--data-dir": data_dir, "--qdrant-url": qdrant_url})
        same_collection(remote, settings_of(collection=collection), loaded)
        _render.hits(ok_or_fail(remote.search(query, options)), json_out=json_out)
        return
    settings = with_collection(
        settings_of(collection=collection, data_dir=data_dir, qdrant_url=qdrant_url), loaded
    )
    found = drive(lambda: run_search(settings, query, options), settings)
    _render.hits(found, json_out=json_out)
