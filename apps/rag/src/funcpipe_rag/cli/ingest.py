"""``funcpipe-rag ingest``: sync the collection with files, folders and URLs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from funcpipe.adapters.runtime import run_main
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.specs import serialize

from funcpipe_rag.app import (
    EXIT_CODES,
    EXIT_OK,
    Cluster,
    Confine,
    Failure,
    Filters,
    IngestReport,
    IngestSettings,
    Settings,
    dask_missing,
    ingest_events,
    plan_lines,
    read_spec,
)

from . import _render
from ._app import EMBED_ENV, KEY_ENV, SERVER_ENV, STORE_ENV, CleanCommand, cli
from ._fail import fail, ok_or_fail, settings_of, usage_error
from ._io import err_console
from ._options import CollectionOpt, DataDirOpt, JsonOpt, QdrantOpt, ServerOpt
from ._progress import IngestProgress
from ._target import server_for

FORMATS = ".md .markdown .rst .txt .text .html .htm .jsonl (and .gz of them)"


def _exit(failure: Failure | None) -> int:
    return EXIT_OK if failure is None else EXIT_CODES[failure]


def _is_url(p: str) -> bool:
    return p[:8].lower().startswith(("http://", "https://"))


def _cluster(workers: int | None, dask: str | None) -> Cluster | None:
    """``--workers N`` / ``--dask ADDRESS`` (``FUNCPIPE_DASK``); both given is a usage error,
    and either without the [dask] extra says which extra to install (exit 2)."""
    if workers is None and not dask:
        return None
    if workers is not None and dask:
        usage_error("give --workers or --dask, not both")
    missing = dask_missing()
    if missing is not None:
        fail(missing)
    return Cluster(workers=workers) if workers is not None else Cluster(address=dask)


def _local(
    settings: Settings,
    spec: IngestSettings,
    paths: list[str],
    *,
    prune: bool,
    dry_run: bool,
    filters: Filters,
    cluster: Cluster | None,
    json_out: bool,
    confine: Confine | None = None,
) -> None:
    events = ingest_events(
        settings,
        spec,
        paths,
        prune=prune,
        dry_run=dry_run,
        cluster=cluster,
        filters=filters,
        confine=confine,
    )
    report = IngestReport(keep_outcomes=dry_run)

    async def _consume(progress: IngestProgress) -> Result[IngestReport, ErrInfo]:
        """The stream's two consumers: the progress bar and the report (its fold)."""
        async for item in events():
            if isinstance(item, Err):
                return item
            progress(item.value)
            report.apply(item.value)
        return Ok(report)

    with IngestProgress(enabled=err_console.is_terminal and not json_out) as progress:
        res = run_main(lambda: _consume(progress))
    done = res.value if isinstance(res, Ok) else res
    if isinstance(done, Err):
        if done.error.code == codes.CANCELLED:
            plan = plan_lines(report)
            _render.ingest_report(
                report, json_out=json_out, dry_run=dry_run, plan=plan, interrupted=True
            )
        fail(done.error, settings)
    _render.ingest_report(report, json_out=json_out, dry_run=dry_run, plan=plan_lines(report))
    raise typer.Exit(_exit(report.failure()))


@cli.command(cls=CleanCommand, epilog=STORE_ENV + EMBED_ENV + KEY_ENV + SERVER_ENV)
def ingest(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Files, folders (walked recursively) or http(s):// URLs.",
            metavar="PATH_OR_URL...",
        ),
    ],
    collection: CollectionOpt = None,
    data_dir: DataDirOpt = None,
    qdrant_url: QdrantOpt = None,
    spec: Annotated[
        Path | None,
        typer.Option(
            "--spec",
            metavar="FILE",
            help="Run this pipeline spec (YAML or JSON) instead of the default.",
        ),
    ] = None,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune", help="Remove stored sources under the given roots that no longer exist."
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the plan (adds, updates, deletes, chunks to embed); change nothing.",
        ),
    ] = False,
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include",
            metavar="GLOB",
            help="Only take files matching this gitignore-style pattern (repeatable).",
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            metavar="GLOB",
            help="Leave out files and folders matching this gitignore-style pattern (repeatable).",
        ),
    ] = None,
    key_base: Annotated[
        Path | None,
        typer.Option(
            "--key-base",
            metavar="DIR",
            help="Source keys are paths relative to DIR (env FUNCPIPE_KEY_BASE; default: the "
            "folder holding the data dir).",
        ),
    ] = None,
    no_links_out: Annotated[
        bool,
        typer.Option(
            "--no-links-out",
            help="Read nothing through a link that leads out of the given folders (skipped and "
            "counted as (outside root)); serve always works so.",
        ),
    ] = False,
    server: ServerOpt = None,
    json_out: JsonOpt = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            metavar="N",
            help="Run on a local Dask cluster of N processes (extra funcpipe-rag[dask]).",
        ),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            envvar="FUNCPIPE_DASK",
            help=(
                "Run on the Dask scheduler at ADDRESS, e.g. tcp://127.0.0.1:8786 "
                "(env FUNCPIPE_DASK)."
            ),
            metavar="ADDRESS",
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            min=0,
            metavar="N",
            help="Extract PDF/DOCX in N worker processes (env FUNCPIPE_JOBS; default: the "
            "cores; 0: in this process, without the per-document time limit).",
        ),
    ] = None,
) -> None:
    """Sync the collection with documents and URLs. Formats read: Markdown (.md .markdown),
    reST (.rst), text (.txt .text), HTML (.html .htm), JSON Lines (.jsonl), Sphinx sources
    (.rst.txt .md.txt), .gz of those, PDF (.pdf) and Word (.docx), plus plug-in formats.

    Re-runs are safe and cheap: unchanged sources embed and write nothing; a changed source
    re-embeds only its new chunks. Inside a folder, files of other types are skipped and
    counted; hidden files and folders are left out; a symlinked folder is followed once.
    Exit 4 when some sources failed (each is listed).

    Source keys (what search shows, and what delete takes): a file under the key base is its
    path relative to it (docs/intro.md); any other file is ~/... under your home folder, else
    its absolute path; a URL is its normalised form. The same tree gets the same keys from any
    working directory.
    """
    filters = Filters(tuple(include or ()), tuple(exclude or ()))
    ok_or_fail(filters.check())
    loaded = ok_or_fail(read_spec(spec)) if spec is not None else None
    if server:
        remote = server_for(
            server,
            {
                "--data-dir": data_dir,
                "--qdrant-url": qdrant_url,
                "--key-base": key_base,
                "--workers": workers,
                "--dask": dask,
                "--jobs": jobs,
            },
        )
        sent = serialize(loaded.spec, "json") if loaded is not None else None
        job = ok_or_fail(
            remote.ingest(
                paths,
                prune=prune,
                dry_run=dry_run,
                include=filters.include,
                exclude=filters.exclude,
                spec=sent,
                collection=collection,
            )
        )
        _render.ingest_report(
            job.report,
            json_out=json_out,
            dry_run=dry_run,
            plan=job.plan,
            interrupted=job.interrupted,
        )
        raise typer.Exit(EXIT_CODES[Failure.CANCELLED] if job.interrupted else _exit(job.failure))
    settings = settings_of(
        collection=collection,
        data_dir=data_dir,
        qdrant_url=qdrant_url,
        key_base=key_base,
        jobs=jobs,
    )
    _local(
        settings,
        loaded if loaded is not None else ok_or_fail(read_spec(None)),
        paths,
        prune=prune,
        dry_run=dry_run,
        filters=filters,
        cluster=_cluster(workers, dask),
        json_out=json_out,
        confine=Confine.of(Path(p).absolute() for p in paths if not _is_url(p))
        if no_links_out
        else None,
    )
