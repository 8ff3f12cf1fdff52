"""``funcpipe-rag serve`` (the HTTP shell is loaded only by this command) and ``demo``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from funcpipe_rag.app import run_demo

from ._app import EMBED_ENV, STORE_ENV, CleanCommand, cli
from ._fail import drive, ok_or_fail, settings_of
from ._io import out
from ._options import CollectionOpt, DataDirOpt, QdrantOpt


@cli.command(cls=CleanCommand, epilog=STORE_ENV + EMBED_ENV)
def serve(
    host: Annotated[
        str,
        typer.Option(
            "--host", metavar="ADDRESS", help="Address to listen on (beyond loopback needs a key)."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", min=0, max=65535, help="TCP port.")
    ] = 8765,
    allow_root: Annotated[
        list[Path] | None,
        typer.Option(
            "--allow-root",
            metavar="DIR",
            help="A directory POST /v1/ingest may read (repeatable).",
        ),
    ] = None,
    allow_private_urls: Annotated[
        bool,
        typer.Option(
            "--allow-private-urls",
            help="Let ingests fetch URLs on loopback, private or link-local addresses.",
        ),
    ] = False,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--cors-origin",
            metavar="ORIGIN",
            help="Allow browser calls from this origin (repeatable).",
        ),
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            metavar="NAME",
            help="A Host name served beside loopback ones (repeatable; without a key only "
            "loopback names are served, against DNS rebinding).",
        ),
    ] = None,
    ingest_share: Annotated[
        float,
        typer.Option(
            "--ingest-cpu-share",
            metavar="SHARE",
            min=0.01,
            max=1.0,
            help="Share of a core an ingest job's embedding may use (searches get the rest).",
        ),
    ] = 0.25,
    max_inflight: Annotated[
        int | None,
        typer.Option(
            "--max-inflight",
            metavar="N",
            min=1,
            help="Searches in flight at most; past it 503 OVERLOADED + Retry-After "
            "(env FUNCPIPE_SERVE_MAX_INFLIGHT; default 8).",
        ),
    ] = None,
    collection: CollectionOpt = None,
    data_dir: DataDirOpt = None,
    qdrant_url: QdrantOpt = None,
) -> None:
    """Serve the HTTP API: one process owns the store, so searches never wait for an ingest.

    JSON under /v1: POST /v1/search, POST /v1/ingest (202 + job), GET /v1/jobs/ID,
    GET /v1/sources, DELETE /v1/sources/KEY (exactly that key), POST /v1/sources:delete (a
    glob, with dry_run), GET /v1/stats, GET /v1/verify (POST to repair); GET /healthz,
    /readyz, /metrics (Prometheus), /openapi.json. Bearer key from FUNCPIPE_API_KEY (required
    beyond loopback). Ingests read only under --allow-root (none by default) and fetch only
    public URLs. SIGTERM or Ctrl-C drains (stops a running ingest safely) and exits 0. Other
    commands reach it with --server URL or FUNCPIPE_SERVER.

    Safe beyond loopback (with FUNCPIPE_API_KEY): files are opened under --allow-root only,
    never through a link out of it; URLs connect only to the public address that was checked
    (redirects re-checked; at most 32 per request); heads over 64 KiB, slow heads and bodies
    are cut off; DELETE removes exactly one key; without a key only loopback Host names are
    answered. Not safe beyond loopback: no key (refused at start), --allow-private-urls (the
    server can then be made to fetch your internal services), an --allow-root folder holding
    files you would not publish.
    """
    from funcpipe_rag.serve import ServeOptions, max_inflight_from_env, roots_of
    from funcpipe_rag.serve import serve as run_server

    settings = settings_of(collection=collection, data_dir=data_dir, qdrant_url=qdrant_url)
    opts = ServeOptions(
        host=host,
        port=port,
        api_key=os.environ.get("FUNCPIPE_API_KEY") or None,
        allow_roots=roots_of(allow_root or []),
        allow_private_urls=allow_private_urls,
        cors_origins=tuple(cors_origin or ()),
        allowed_hosts=tuple(allow_host or ()),
        ingest_share=ingest_share,
        max_inflight=max_inflight or max_inflight_from_env(),
    )
    ok_or_fail(run_server(settings, opts), settings)


@cli.command(cls=CleanCommand)
def demo() -> None:
    """Ingest the bundled FuncPipe docs into a throwaway store and run sample searches.

    Needs no server and no network; nothing is left behind.
    """
    drive(lambda: run_demo(out.print))
