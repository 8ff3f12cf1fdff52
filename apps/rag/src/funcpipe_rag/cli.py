"""The ``funcpipe-rag`` command line: parse, call the app, drive, render, map errors to exit codes.

Exit codes: 0 success; 2 invalid usage, configuration or spec (a dimension or embedder
mismatch is configuration); 3 a backend (store, embedder, network, disk space) unavailable;
4 finished, but some sources failed; 130 on SIGINT, 143 on SIGTERM; 1 unexpected. An expected
failure prints one line naming the problem and the fix, never a traceback. A closed stdout
(piping into ``head``) ends quietly with 0.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Coroutine, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from funcpipe.adapters.runtime import run_main
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.specs import PipelineSpec
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from typer.core import TyperCommand

from funcpipe_rag import _remote as _client
from funcpipe_rag.app import (
    SPEC_CODES,
    Cluster,
    Filters,
    IngestEvent,
    IngestReport,
    Phase,
    SearchOptions,
    Settings,
    SourceError,
    Walked,
    collection_for,
    dask_missing,
    ingest_events,
    load_settings,
    owner_of,
    parse_where,
    plan_lines,
    read_spec,
    run_collections,
    run_delete,
    run_demo,
    run_drop,
    run_search,
    run_sources,
    run_stats,
    run_verify,
    spec_format,
    spec_hash_of,
    spec_text,
)

T = TypeVar("T")

EXIT_OK, EXIT_UNEXPECTED, EXIT_USAGE, EXIT_BACKEND, EXIT_PARTIAL = 0, 1, 2, 3, 4
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


class _Stdout(Console):
    """Rich's console on stdout; a closed stdout (EPIPE) ends the command quietly with 0."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        _quiet_stdout()
        raise SystemExit(EXIT_OK)


out = _Stdout(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

STORE_ENV = (
    "\b\nEnvironment (flags win):\n"
    "  FUNCPIPE_DATA_DIR        embedded store directory (default .funcpipe)\n"
    "  FUNCPIPE_COLLECTION      collection name (default: the spec's, else funcpipe)\n"
    "  FUNCPIPE_QDRANT_URL      a Qdrant server or cluster instead of the embedded store\n"
    "  FUNCPIPE_QDRANT_API_KEY  its API key\n"
    "  FUNCPIPE_QDRANT_PATH     qdrant-client's local on-disk mode, in this directory"
)
EMBED_ENV = (
    "\n  FUNCPIPE_EMBED_URL       an OpenAI-compatible embeddings endpoint (http(s)://...)\n"
    "  FUNCPIPE_EMBED_MODEL     its model name (required with FUNCPIPE_EMBED_URL)\n"
    "  FUNCPIPE_EMBED_API_KEY   its API key\n"
    "  FUNCPIPE_EMBED_DIM       the vector dimension (default: asked from the endpoint)"
)
KEY_ENV = "\n  FUNCPIPE_KEY_BASE        source keys are paths relative to this folder"


class CleanCommand(TyperCommand):
    """Help with plain metavars: ``PATH_OR_URL...`` and ``--data-dir DIR``, no type labels."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for p in self.get_params(ctx):
            if p.param_type_name != "argument":
                continue
            name = p.metavar or (p.name or "").upper()
            if p.nargs != 1 and not name.endswith("..."):
                name += "..."
            pieces.append(name if p.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        args: list[tuple[str, str]] = []
        opts: list[tuple[str, str]] = []
        for p in self.get_params(ctx):
            rec = p.get_help_record(ctx)
            if rec is None:
                continue
            if p.param_type_name == "argument":
                args.append((p.metavar or (p.name or "").upper(), p.help or ""))  # type: ignore[attr-defined]
            else:
                opts.append(rec)
        if args:
            with formatter.section("Arguments"):
                formatter.write_dl(args)
        if opts:
            with formatter.section("Options"):
                formatter.write_dl(opts)


cli = typer.Typer(
    name="funcpipe-rag",
    help=(
        "Keep a Qdrant collection in sync with your documents, and search it.\n\n"
        "Runs with no server and no network by default (Qdrant Edge under .funcpipe/ and a "
        "bundled static embedding model). Start with: funcpipe-rag demo\n\n"
        "Exit codes: 0 ok; 2 usage or configuration; 3 a backend is down; 4 some sources "
        "failed; 130 interrupted (SIGINT), 143 terminated (SIGTERM)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
spec_cli = typer.Typer(
    help="Show, validate, seal or hash an ingest pipeline spec (the default one without FILE).",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
cli.add_typer(spec_cli, name="spec")
collection_cli = typer.Typer(
    help="Manage one collection (see also: funcpipe-rag collections).",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
cli.add_typer(collection_cli, name="collection")


def app_version() -> str:
    """The installed funcpipe-rag version."""
    try:
        return version("funcpipe-rag")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def _version(value: bool) -> None:
    if value:
        print(f"funcpipe-rag {app_version()}")
        raise typer.Exit(EXIT_OK)


@cli.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Keep a Qdrant collection in sync with your documents, and search it."""


_USAGE_STAGES = frozenset({"config", "spec", "usage", "query"})


def exit_code_for(e: ErrInfo) -> int:
    """The contract's exit code of a failure (rag-app.md).

    130/143: cancelled by SIGINT/SIGTERM; 2: usage, configuration, spec, a dimension or
    embedder mismatch, invalid input anywhere, a collection that does not exist; 3: a backend
    (store, embedder, network, disk) unavailable; 1: anything else.
    """
    if e.code == codes.CANCELLED:
        return EXIT_SIGTERM if e.ctx.get("signal") == "SIGTERM" else EXIT_SIGINT
    if e.stage in _USAGE_STAGES or e.code in SPEC_CODES:
        return EXIT_USAGE
    if e.code in (codes.DIMENSION_MISMATCH, codes.INVALID_INPUT):
        return EXIT_USAGE
    if e.stage == "store" and e.code == codes.NOT_FOUND:
        return EXIT_USAGE  # no such collection: a wrong --data-dir / --collection
    if e.stage in ("store", "embed") or e.code in (codes.NETWORK, codes.AUTH, codes.TIMEOUT):
        return EXIT_BACKEND
    return EXIT_UNEXPECTED


def _command_path(argv: Sequence[str] | None = None) -> str:
    """The command being run, as the user typed it (``funcpipe-rag spec show``)."""
    words = []
    for a in (sys.argv[1:] if argv is None else argv)[:2]:
        if a.startswith("-"):
            break
        words.append(a)
    if words and words[0] not in ("spec", "collection"):
        words = words[:1]
    return " ".join(["funcpipe-rag", *words])


def _hint(e: ErrInfo, settings: Settings | None) -> str:
    data_dir = settings.data_dir if settings else Path(".funcpipe")
    if e.code == codes.CANCELLED:
        return "run the same command again; re-runs are safe"
    if e.stage == "usage":
        return f"see: {_command_path()} --help"
    if e.stage == "query":
        return "give QUERY a few words to look for"
    if e.stage == "cluster" and e.code == codes.NETWORK:
        return "check --dask / FUNCPIPE_DASK: is a dask scheduler running at that address?"
    if e.code == codes.HASH_MISMATCH:
        return "if you edited the spec on purpose, re-seal it: funcpipe-rag spec seal FILE"
    if e.stage == "spec" or e.code in SPEC_CODES:
        return "fix the spec file (check it with: funcpipe-rag spec validate FILE)"
    if e.code == codes.NOT_FOUND and e.stage in ("config", "store"):
        return (
            "nothing ingested into this collection yet: run funcpipe-rag ingest PATH first, "
            "or name another with --collection or --spec (see: funcpipe-rag collections)"
        )
    if e.code == codes.DIMENSION_MISMATCH or ("embedder" in e.msg and e.stage == "config"):
        return "use another --collection, or the embedder the collection was written with"
    if e.stage == "config":
        return "fix the flag or the FUNCPIPE_* environment variable (see --help)"
    if e.stage == "store":
        if e.code == "NO_SPACE":
            return f"free some space under {data_dir}, or pass another --data-dir"
        if (
            "lock" in e.msg.lower()
            or "wouldblock" in e.msg.lower()
            or "already accessed" in e.msg.lower()
        ):
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
            return (
                "is Qdrant reachable at --qdrant-url / FUNCPIPE_QDRANT_URL (and the API key right)?"
            )
        return f"check that {data_dir} is writable (or pass --data-dir), then run again"
    if e.stage == "embed":
        if e.code == codes.AUTH:
            return "check FUNCPIPE_EMBED_API_KEY"
        if e.code == codes.INVALID_INPUT:
            return "set FUNCPIPE_EMBED_URL to an http(s):// URL, or unset it for the bundled model"
        return (
            "check FUNCPIPE_EMBED_URL / FUNCPIPE_EMBED_MODEL, "
            "or unset them to use the bundled model"
        )
    if e.code == codes.INVALID_INPUT:
        return f"see: {_command_path()} --help"
    return "run again; if it persists, report it with the command you ran"


def one_line(text: str) -> str:
    """``text`` on one line (runs of whitespace, newlines included, become one space)."""
    return " ".join(text.split())


def fail(e: ErrInfo, settings: Settings | None = None) -> NoReturn:
    """Print one line (problem, code, fix) to stderr and exit with the mapped code."""
    err_console.print(
        f"funcpipe-rag: {escape(one_line(e.msg))} [{e.code}]. Fix: {escape(_hint(e, settings))}"
    )
    raise typer.Exit(exit_code_for(e))


def usage_error(msg: str) -> NoReturn:
    """Exit 2 with one line: a usage error of the current command."""
    fail(ErrInfo(codes.INVALID_INPUT, msg, stage="usage"))


def drive(
    main: Callable[[], Coroutine[object, object, Result[T, ErrInfo]]],
    settings: Settings | None = None,
) -> T:
    """Run ``main`` through the runtime; any Err ends the command with its exit code."""
    res = run_main(main)
    if isinstance(res, Err):
        e = res.error
        if e.code == codes.UNEXPECTED and e.cause is not None and "-v" in sys.argv:
            raise e.cause
        fail(e, settings)
    inner = res.value
    if isinstance(inner, Err):
        fail(inner.error, settings)
    return inner.value


def _settings(**flags: object) -> Settings:
    got = load_settings(**flags)
    if isinstance(got, Err):
        fail(got.error)
    return got.value


def emit_json(doc: object) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


# -- options ---------------------------------------------------------------------------------

CollectionOpt = Annotated[
    str | None,
    typer.Option(
        "--collection",
        metavar="NAME",
        help="Collection name (env FUNCPIPE_COLLECTION; default: the spec's, else funcpipe).",
    ),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        metavar="DIR",
        help="Embedded store directory (env FUNCPIPE_DATA_DIR; default: .funcpipe).",
    ),
]
QdrantOpt = Annotated[
    str | None,
    typer.Option(
        "--qdrant-url",
        metavar="URL",
        help=(
            "Use a Qdrant server or cluster, http(s)://HOST[:PORT] "
            "(env FUNCPIPE_QDRANT_URL; key: FUNCPIPE_QDRANT_API_KEY)."
        ),
    ),
]
SpecOpt = Annotated[
    Path | None,
    typer.Option(
        "--spec",
        metavar="FILE",
        help="A pipeline spec (YAML or JSON); its collection is used unless --collection.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]
ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="FUNCPIPE_SERVER",
        metavar="URL",
        help="Go through a running funcpipe-rag serve at this URL (env FUNCPIPE_SERVER; key: "
        "FUNCPIPE_API_KEY).",
    ),
]


def _remote(got: Result[T, ErrInfo]) -> T:
    if isinstance(got, Err):
        fail(got.error)
    return got.value


def _spec_or_exit(file: Path | None, settings: Settings | None = None) -> PipelineSpec:
    loaded = read_spec(file)
    if isinstance(loaded, Err):
        fail(loaded.error, settings)
    return loaded.value


def _with_collection(settings: Settings, spec: PipelineSpec | None) -> Settings:
    """The settings naming the collection to use: flag/env > spec > default."""
    return settings.model_copy(update={"collection": collection_for(settings, spec)})


# -- ingest ----------------------------------------------------------------------------------

PHASE_NAMES = {
    "walk": "counting the sources",
    "sync": "ingesting",
    "prune": "pruning removed sources",
    "index": "building the search index",
}


class _Progress:
    """A live bar on a terminal: the phase by name, sources done of the total (once the walk
    has counted them), percentage, ETA and rates; nothing when piped."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.t0 = time.monotonic()
        self.sources = self.chunks = self.failed = 0
        self.phase = "walk"
        self.total: int | None = None
        self._progress: Progress | None = None
        self._task = TaskID(0)

    def __enter__(self) -> _Progress:
        if self.enabled:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(PHASE_NAMES["walk"], total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    def describe(self) -> str:
        """The bar's text: the phase, then the counts and rates."""
        dt = max(time.monotonic() - self.t0, 1e-6)
        name = PHASE_NAMES.get(self.phase, self.phase)
        if self.phase in ("walk", "index"):
            return name
        of = f"/{self.total}" if self.total is not None else ""
        return (
            f"{name}: {self.sources}{of} sources ({self.sources / dt:.1f}/s), "
            f"{self.chunks} chunks embedded ({self.chunks / dt:.1f}/s), {self.failed} failed"
        )

    def __call__(self, item: IngestEvent) -> None:
        if isinstance(item, Phase):
            self.phase = item.name
        elif isinstance(item, Walked):
            self.total = item.total
        elif isinstance(item, SourceError):
            self.failed += 1
        elif item.action != "deleted":
            self.sources += 1
            self.chunks += item.embedded
        if self._progress is not None:
            done = self.sources + self.failed
            self._progress.update(
                self._task,
                description=self.describe(),
                total=self.total if self.phase == "sync" else None,
                completed=done,
            )


def _print_report(report: IngestReport, dry_run: bool) -> None:
    if dry_run:
        out.print("Dry run: nothing was written. The plan:")
        for line in plan_lines(report):
            out.print("  " + escape(line))
    r = report
    skipped = sum(r.sources_skipped.values())
    by = ", ".join(f"{n} {k}" for k, n in sorted(r.sources_skipped.items()))
    out.print(
        f"{r.sources_seen} sources seen: {r.sources_added} added, {r.sources_updated} updated, "
        f"{r.sources_unchanged} unchanged, {r.sources_deleted} deleted, {len(r.errors)} failed; "
        f"{r.chunks_embedded} chunks embedded, {r.chunks_upserted} upserted, "
        f"{r.chunks_deleted} deleted"
        + (f"; {skipped} files skipped ({escape(by)})" if skipped else "")
    )
    for e in report.errors:
        err_console.print(f"  failed {escape(e.source)}: [{e.code}] {escape(one_line(e.msg))}")


def _cluster(workers: int | None, dask: str | None) -> Cluster | None:
    """``--workers N`` / ``--dask ADDRESS`` (``FUNCPIPE_DASK``); both given is a usage error,
    and either without the [dask] extra says which extra to install (exit 2)."""
    if workers is None and not dask:
        return None
    if workers is not None and dask:
        fail(ErrInfo(codes.INVALID_INPUT, "give --workers or --dask, not both", stage="usage"))
    missing = dask_missing()
    if missing is not None:
        fail(missing)
    return Cluster(workers=workers) if workers is not None else Cluster(address=dask)


def report_exit(report: IngestReport) -> int:
    if report.backend_failed:
        return EXIT_BACKEND
    return EXIT_PARTIAL if report.errors else EXIT_OK


def report_json(report: IngestReport, interrupted: bool = False) -> dict[str, object]:
    """``ingest --json``: the summary, messages on one line; ``interrupted`` when a signal
    stopped the run."""
    doc = report.to_json()
    doc["errors"] = [
        {"source": e.source, "code": e.code, "msg": one_line(e.msg)} for e in report.errors
    ]
    if interrupted:
        doc["interrupted"] = True
    return doc


@cli.command(
    cls=CleanCommand,
    epilog=STORE_ENV + EMBED_ENV + KEY_ENV,
)
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
) -> None:
    """Sync the collection with .md .txt .rst .html .jsonl files (and .gz of them) and URLs.

    Re-runs are safe and cheap: unchanged sources embed and write nothing; a changed source
    re-embeds only its new chunks. Inside a folder, files of other types are skipped and
    counted; hidden files and folders are left out; a symlinked folder is followed once.
    Exit 4 when some sources failed (each is listed).

    Source keys (what search shows, and what delete takes): a file under the key base is its
    path relative to it (docs/intro.md); any other file is ~/... under your home folder, else
    its absolute path; a URL is its normalised form. The same tree gets the same keys from any
    working directory.
    """
    if server:
        job = _remote(_client.ingest(server, paths, prune=prune, dry_run=dry_run))
        _remote_report(job, json_out)
    settings = _settings(
        collection=collection, data_dir=data_dir, qdrant_url=qdrant_url, key_base=key_base
    )
    loaded = _spec_or_exit(spec, settings)
    filters = Filters(tuple(include or ()), tuple(exclude or ()))
    cluster = _cluster(workers, dask)
    events = ingest_events(
        settings, loaded, paths, prune=prune, dry_run=dry_run, cluster=cluster, filters=filters
    )
    report = IngestReport(keep_outcomes=dry_run)

    async def _consume(progress: _Progress) -> Result[IngestReport, ErrInfo]:
        """The stream's two consumers: the progress bar and the report (its fold)."""
        async for item in events():
            if isinstance(item, Err):
                return item
            progress(item.value)
            report.apply(item.value)
        return Ok(report)

    with _Progress(enabled=err_console.is_terminal and not json_out) as progress:
        res = run_main(lambda: _consume(progress))
    if isinstance(res, Err) and res.error.code == codes.CANCELLED:
        if json_out:
            emit_json(report_json(report, interrupted=True))
        else:
            _print_report(report, dry_run)
        fail(res.error, settings)
    if isinstance(res, Err):
        fail(res.error, settings)
    if isinstance(res.value, Err):
        fail(res.value.error, settings)
    if json_out:
        emit_json(report_json(report))
    else:
        _print_report(report, dry_run)
    raise typer.Exit(report_exit(report))


def _remote_report(job: dict[str, object], json_out: bool) -> NoReturn:
    """Print a finished server job as ``ingest`` prints its report; exit as ``ingest``."""
    error = job.get("error")
    if job.get("status") == "failed" and isinstance(error, dict):
        fail(ErrInfo(str(error.get("code")), str(error.get("msg")), stage="store"))
    report = job.get("report")
    if not isinstance(report, dict):
        fail(ErrInfo(codes.SERVICE_SPECIFIC, "the server's job has no report", stage="store"))
    if json_out:
        print(json.dumps(report))
    else:
        plan = job.get("plan")
        for line in plan if isinstance(plan, list) else []:
            out.print("  " + escape(str(line)))
        out.print(escape(" ".join(f"{k}={v}" for k, v in report.items() if k != "errors")))
        for e in report.get("errors", []):
            src, msg = escape(str(e["source"])), escape(str(e["msg"]))
            err_console.print(f"  failed {src}: [{e['code']}] {msg}")
    raise typer.Exit(EXIT_PARTIAL if report.get("errors") else EXIT_OK)


# -- search ----------------------------------------------------------------------------------


def _snippet(text: str, width: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def print_hits(hits: list[dict[str, object]]) -> None:
    """Each hit (as ``search --json`` gives it): rank, score, source and span; the title and
    heading path when the chunk has them; a one-line snippet of its readable text."""
    if not hits:
        out.print("  (no hits)")
    for n, h in enumerate(hits, 1):
        out.print(f"  {n}. {h['score']:.3f}  {escape(str(h['source']))} [{h['start']}:{h['end']}]")
        raw = h.get("headings")
        where = [str(h.get("title") or "")] + (
            [str(x) for x in raw] if isinstance(raw, list) else []
        )
        path = " > ".join(dict.fromkeys(w for w in where if w))
        if path:
            out.print(f"     [bold]{escape(path)}[/bold]")
        out.print(f"     {escape(_snippet(str(h['text'])))}")


@cli.command(cls=CleanCommand, epilog=STORE_ENV + EMBED_ENV)
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
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            metavar="GLOB",
            help="Only sources with this key or matching this glob (repeatable: any of them).",
        ),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            metavar="FIELD=VALUE",
            help=(
                "Only chunks whose payload FIELD equals VALUE: title, headings (any heading of "
                "the path), source, doc_version, spec_hash. Repeatable: all fields must match; "
                "a repeated field matches any of its values."
            ),
        ),
    ] = None,
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
        pairs = parse_where(where or [])
        options = SearchOptions(k, per_source, tuple(source or ()), pairs)
    except ValueError as exc:
        usage_error(str(exc))
    if server:
        docs = _remote(
            _client.search(
                server, query, k, per_source=per_source, source=options.source, where=pairs
            )
        )
        if json_out:
            print(json.dumps(docs))
            return
        print_hits([d for d in docs if isinstance(d, dict)] if isinstance(docs, list) else [])
        return
    settings = _settings(collection=collection, data_dir=data_dir, qdrant_url=qdrant_url)
    if spec is not None:
        settings = _with_collection(settings, _spec_or_exit(spec, settings))
    hits = drive(lambda: run_search(settings, query, options), settings)
    if json_out:
        emit_json([h.to_json() for h in hits])
    else:
        print_hits([h.to_json() for h in hits])


# -- verify ----------------------------------------------------------------------------------


@cli.command(cls=CleanCommand, epilog=STORE_ENV)
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
    if server:
        got = _remote(_client.verify(server, repair=repair))
        assert isinstance(got, dict)
        if json_out:
            emit_json(got)
        else:
            state = "OK" if got["ok"] else "PROBLEMS FOUND"
            out.print(f"{state}: {got['sources']} committed sources, {got['points']} points")
        raise typer.Exit(EXIT_OK if got["ok"] else EXIT_PARTIAL)
    settings = _settings(collection=collection, data_dir=data_dir, qdrant_url=qdrant_url)
    if spec is not None:
        settings = _with_collection(settings, _spec_or_exit(spec, settings))
    found, after = drive(lambda: run_verify(settings, repair=repair), settings)
    final = after if after is not None else found
    if json_out:
        doc: dict[str, object] = {
            "ok": final.ok,
            "sources": final.sources,
            "points": final.points,
            "problems": [p.to_json() for p in final.problems],
        }
        if repair:
            doc["repaired"] = [] if found.ok else [p.to_json() for p in found.problems]
            doc["removed"] = [] if found.ok else list(found.repair_deletes)
        emit_json(doc)
    else:
        if repair and not found.ok:
            out.print(
                f"Repaired {len(found.problems)} problem(s), "
                f"removed {len(found.repair_deletes)} point(s):"
            )
            for p in found.problems:
                out.print(f"  {escape(p.source)}: [{p.code}] {escape(p.msg)}")
        state = "OK" if final.ok else "PROBLEMS FOUND"
        out.print(f"{state}: {final.sources} committed sources, {final.points} points")
        for p in final.problems:
            err_console.print(f"  {escape(p.source)}: [{p.code}] {escape(p.msg)}")
        if not final.ok:
            err_console.print("Fix: funcpipe-rag verify --repair, then ingest again")
    raise typer.Exit(EXIT_OK if final.ok else EXIT_PARTIAL)


# -- collections, stats, sources, delete, collection drop -----------------------------------


def _store_settings(
    collection: str | None, data_dir: Path | None, qdrant_url: str | None
) -> Settings:
    return _with_collection(
        _settings(collection=collection, data_dir=data_dir, qdrant_url=qdrant_url), None
    )


@cli.command(cls=CleanCommand, epilog=STORE_ENV)
def collections(
    data_dir: DataDirOpt = None,
    qdrant_url: QdrantOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List the store's collections: points, committed sources and embedder of each."""
    settings = _store_settings(None, data_dir, qdrant_url)
    got = drive(lambda: run_collections(settings), settings)
    if json_out:
        emit_json([c.to_json() for c in got])
        return
    if not got:
        out.print("(no collections: run funcpipe-rag ingest PATH first)")
    for c in got:
        out.print(
            f"{escape(c.name)}  {c.points} points, {c.sources} sources, "
            f"embedder {escape(c.embedder or '?')}"
        )


@cli.command(cls=CleanCommand, epilog=STORE_ENV)
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
        doc = _remote(_client.stats(server))
    else:
        settings = _store_settings(collection, data_dir, qdrant_url)
        name = settings.collection or "funcpipe"
        doc = drive(lambda: run_stats(settings, name), settings).to_json()
    if json_out:
        emit_json(doc)
        return
    assert isinstance(doc, dict)
    for key, value in doc.items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        if isinstance(value, dict):
            shown = " ".join(f"{k}={json.dumps(v)}" for k, v in value.items())
        out.print(f"{key}: {escape(str('-' if shown is None else shown))}")


@cli.command(cls=CleanCommand, epilog=STORE_ENV)
def sources(
    collection: CollectionOpt = None,
    data_dir: DataDirOpt = None,
    qdrant_url: QdrantOpt = None,
    server: ServerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List the committed sources: key, version (hash of the text) and chunk count."""
    if server:
        docs = _remote(_client.sources(server))
    else:
        settings = _store_settings(collection, data_dir, qdrant_url)
        name = settings.collection or "funcpipe"
        docs = [e.to_json() for e in drive(lambda: run_sources(settings, name), settings)]
    if json_out:
        emit_json(docs)
        return
    for e in docs if isinstance(docs, list) else []:
        out.print(f"{escape(e['source'])}  {e['chunks']} chunks  {str(e['version'])[:12]}")


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
    collection: CollectionOpt = None,
    data_dir: DataDirOpt = None,
    qdrant_url: QdrantOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Delete stored sources through the ingestion protocol (chunks first, marker last): a
    delete cut short is finished by running it again. Exit 4 when a SOURCE matched nothing."""
    settings = _store_settings(collection, data_dir, qdrant_url)
    name = settings.collection or "funcpipe"
    rep = drive(lambda: run_delete(settings, name, patterns), settings)
    if json_out:
        emit_json(rep.to_json())
    else:
        out.print(f"deleted {len(rep.deleted)} sources ({rep.chunks_deleted} chunks)")
        for key in rep.deleted:
            out.print(f"  {escape(key)}")
        for e in rep.errors:
            err_console.print(f"  failed {escape(e.source)}: [{e.code}] {escape(one_line(e.msg))}")
    if any(e.backend for e in rep.errors):
        raise typer.Exit(EXIT_BACKEND)
    raise typer.Exit(EXIT_PARTIAL if rep.errors else EXIT_OK)


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
    settings = _store_settings(None, data_dir, qdrant_url)
    rep = drive(lambda: run_drop(settings, name), settings)
    if json_out:
        emit_json(rep.to_json())
    elif rep.dropped:
        out.print(f"dropped collection {escape(name)}")
    else:
        out.print(f"no collection {escape(name)}: nothing to drop")


# -- spec ------------------------------------------------------------------------------------

SpecFileArg = Annotated[
    Path | None,
    typer.Argument(
        help="A spec file (.yaml/.yml or .json); the default spec if omitted.", metavar="FILE"
    ),
]


def _spec(file: Path | None) -> PipelineSpec:
    loaded = read_spec(file)
    if isinstance(loaded, Err):
        fail(loaded.error)
    return loaded.value


@spec_cli.command("show", cls=CleanCommand)
def spec_show(
    file: SpecFileArg = None,
    fmt: Annotated[str, typer.Option("--format", metavar="FORMAT", help="yaml or json.")] = "yaml",
) -> None:
    """Print the spec (YAML by default): ops, params, policies and hashes."""
    if fmt not in ("yaml", "json"):
        fail(
            ErrInfo(
                codes.INVALID_INPUT, f"--format must be yaml or json, not {fmt!r}", stage="usage"
            )
        )
    sys.stdout.write(spec_text(_spec(file), "yaml" if fmt == "yaml" else "json"))


@spec_cli.command("validate", cls=CleanCommand)
def spec_validate(file: SpecFileArg = None) -> None:
    """Check a spec: schema, hashes, and that this app can run every op (exit 2 if not)."""
    s = _spec(file)
    out.print(f"valid: {escape(s.name)} ({len(s.ops)} ops), hash {s.version}")


@spec_cli.command("seal", cls=CleanCommand)
def spec_seal(
    file: Annotated[
        Path,
        typer.Argument(help="The edited spec file (.yaml/.yml or .json).", metavar="FILE"),
    ],
) -> None:
    """Print FILE with its hashes recomputed, after a deliberate edit (same format).

    Every other check still applies (limits, safe YAML, schema, policies, trusted ops), so
    `funcpipe-rag spec seal my.yaml > sealed.yaml` then `ingest --spec sealed.yaml`.
    """
    loaded = read_spec(file, reseal=True)
    if isinstance(loaded, Err):
        fail(loaded.error)
    sys.stdout.write(spec_text(loaded.value, spec_format(file)))


@spec_cli.command("hash", cls=CleanCommand)
def spec_hash(file: SpecFileArg = None) -> None:
    """Print the spec's canonical hash (stamped on every point it writes)."""
    print(spec_hash_of(_spec(file)))


# -- serve -----------------------------------------------------------------------------------


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
    collection: CollectionOpt = None,
    data_dir: DataDirOpt = None,
    qdrant_url: QdrantOpt = None,
) -> None:
    """Serve the HTTP API: one process owns the store, so searches never wait for an ingest.

    JSON under /v1: POST /v1/search, POST /v1/ingest (202 + job), GET /v1/jobs/ID,
    GET /v1/sources, DELETE /v1/sources/KEY, GET /v1/stats, GET /v1/verify; GET /healthz,
    /readyz, /metrics (Prometheus), /openapi.json. Bearer key from FUNCPIPE_API_KEY (required
    beyond loopback). Ingests read only under --allow-root (none by default) and fetch only
    public URLs. SIGTERM or Ctrl-C drains (stops a running ingest safely) and exits 0. Other
    commands reach it with --server URL or FUNCPIPE_SERVER.
    """
    from funcpipe_rag.serve import ServeOptions, roots_of
    from funcpipe_rag.serve import serve as run_server

    settings = _settings(collection=collection, data_dir=data_dir, qdrant_url=qdrant_url)
    key = os.environ.get("FUNCPIPE_API_KEY") or None
    opts = ServeOptions(
        host=host,
        port=port,
        api_key=key,
        allow_roots=roots_of(allow_root or []),
        allow_private_urls=allow_private_urls,
        cors_origins=tuple(cors_origin or ()),
        ingest_share=ingest_share,
    )
    done = run_server(settings, opts)
    if isinstance(done, Err):
        fail(done.error, settings)


# -- demo ------------------------------------------------------------------------------------


@cli.command(cls=CleanCommand)
def demo() -> None:
    """Ingest the bundled FuncPipe docs into a throwaway store and run sample searches.

    Needs no server and no network; nothing is left behind.
    """
    drive(lambda: run_demo(out.print))


def _stdout_closed() -> bool:
    """True when click met a closed stdout (EPIPE) and pacified the streams (the wrapper's
    name differs between click and typer's vendored copy)."""
    return type(sys.stdout).__name__.lstrip("_") == "PacifyFlushWrapper"


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> None:
    """The console-script entry point: the exit codes of the contract, a closed stdout ends
    quietly with 0."""
    # qdrant-client warns when it cannot read an unreachable server's version; the run then
    # fails with one NETWORK line of its own, so the warning would only be a second, noisy line.
    warnings.filterwarnings("ignore", message="Failed to obtain server version")
    code: int | str | None = 0
    try:
        cli(args=list(argv) if argv is not None else None)
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:
        err_console.print(
            "funcpipe-rag: interrupted. Fix: run the same command again; re-runs are safe"
        )
        code = EXIT_SIGINT
    except BrokenPipeError:
        code = 0
        _quiet_stdout()
    if _stdout_closed():
        code = 0
        _quiet_stdout()
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        code = 0
        _quiet_stdout()
    sys.exit(code)


# -- watch (issue 23): the command lives in its own module -----------------------------------
from funcpipe_rag._watch_cli import register_watch  # noqa: E402

register_watch(cli)


if __name__ == "__main__":
    main()
