"""The ``funcpipe-rag`` command line: parse, call the app, drive, render, map errors to exit codes.

Exit codes: 0 success; 2 invalid usage, config or spec; 3 a backend (store, embedder, network)
unavailable; 4 finished, but some sources failed; 1 unexpected. An expected failure prints one
line naming the problem and the fix, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from funcpipe.adapters.runtime import run_main
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.specs import PipelineSpec
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from funcpipe_rag import _remote as _client
from funcpipe_rag.app import (
    Cluster,
    IngestEvent,
    IngestReport,
    Phase,
    SearchHit,
    Settings,
    SourceError,
    dask_missing,
    ingest_events,
    load_settings,
    owner_of,
    plan_lines,
    read_spec,
    run_demo,
    run_search,
    run_verify,
    spec_format,
    spec_hash_of,
    spec_text,
)

T = TypeVar("T")

EXIT_OK, EXIT_UNEXPECTED, EXIT_USAGE, EXIT_BACKEND, EXIT_PARTIAL = 0, 1, 2, 3, 4

out = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

cli = typer.Typer(
    name="funcpipe-rag",
    help=(
        "Keep a Qdrant collection in sync with your documents, and search it.\n\n"
        "Runs with no server and no network by default (Qdrant Edge under .funcpipe/ and a "
        "bundled static embedding model). Start with: funcpipe-rag demo"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
spec_cli = typer.Typer(
    help="Show, validate, seal or hash an ingest pipeline spec (the default one without FILE).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
cli.add_typer(spec_cli, name="spec")

_SPEC_CODES = frozenset(
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


def exit_code_for(e: ErrInfo) -> int:
    """2 for usage, config and spec problems; 3 for an unavailable backend; 1 otherwise."""
    if e.stage in ("config", "spec", "usage") or e.code in _SPEC_CODES:
        return EXIT_USAGE
    if e.stage == "store" and e.code == codes.NOT_FOUND:
        return EXIT_USAGE  # no such collection: a wrong --data-dir / --collection
    if e.stage in ("store", "embed") or e.code in (codes.NETWORK, codes.AUTH, codes.TIMEOUT):
        return EXIT_BACKEND
    return EXIT_UNEXPECTED


def _hint(e: ErrInfo, settings: Settings | None) -> str:
    data_dir = settings.data_dir if settings else Path(".funcpipe")
    if e.code == codes.CANCELLED:
        return "run the same command again; re-runs are safe"
    if e.stage == "config":
        return "fix the flag or the FUNCPIPE_* environment variable"
    if e.stage == "cluster" and e.code == codes.NETWORK:
        return "check --dask / FUNCPIPE_DASK: is a dask scheduler running at that address?"
    if e.code == codes.HASH_MISMATCH:
        return "if you edited the spec on purpose, re-seal it: funcpipe-rag spec seal FILE"
    if e.stage == "spec" or e.code in _SPEC_CODES:
        return "fix the spec file (check it with: funcpipe-rag spec validate FILE)"
    if e.stage == "store":
        if e.code == "NO_SPACE":
            return f"free some space under {data_dir}, or pass another --data-dir"
        if e.code == codes.NOT_FOUND:
            return "nothing ingested into this collection yet: run funcpipe-rag ingest PATH first"
        if e.code == codes.DIMENSION_MISMATCH:
            return "the collection was written by another embedder: use another --collection"
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
        return (
            "check FUNCPIPE_EMBED_URL / FUNCPIPE_EMBED_MODEL, "
            "or unset them to use the bundled model"
        )
    return "run again; if it persists, report it with the command you ran"


def fail(e: ErrInfo, settings: Settings | None = None) -> NoReturn:
    """Print one line (problem, code, fix) to stderr and exit with the mapped code."""
    msg = " ".join(e.msg.split())
    err_console.print(f"funcpipe-rag: {escape(msg)} [{e.code}]. Fix: {escape(_hint(e, settings))}")
    raise typer.Exit(130 if e.code == codes.CANCELLED else exit_code_for(e))


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


# -- options ---------------------------------------------------------------------------------

CollectionOpt = Annotated[
    str | None,
    typer.Option(
        "--collection", help="Collection name (env FUNCPIPE_COLLECTION; default: funcpipe)."
    ),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Embedded store directory (env FUNCPIPE_DATA_DIR; default: .funcpipe)."
    ),
]
QdrantOpt = Annotated[
    str | None,
    typer.Option(
        "--qdrant-url",
        help=(
            "Use a Qdrant server or cluster "
            "(env FUNCPIPE_QDRANT_URL; key: FUNCPIPE_QDRANT_API_KEY)."
        ),
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]
ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="FUNCPIPE_SERVER",
        help="Go through a running funcpipe-rag serve at this URL (key: FUNCPIPE_API_KEY).",
    ),
]


def _remote(got: Result[T, ErrInfo]) -> T:
    if isinstance(got, Err):
        fail(got.error)
    return got.value


# -- ingest ----------------------------------------------------------------------------------


class _Progress:
    """A live line with counts and rates on a terminal; nothing when piped."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.t0 = time.monotonic()
        self.sources = self.chunks = self.failed = 0
        self._progress: Progress | None = None
        self._task = TaskID(0)

    def __enter__(self) -> _Progress:
        if self.enabled:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("ingesting", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    def __call__(self, item: IngestEvent) -> None:
        if isinstance(item, Phase):
            return
        if isinstance(item, SourceError):
            self.failed += 1
        else:
            self.sources += 1
            self.chunks += item.embedded
        if self._progress is not None:
            dt = max(time.monotonic() - self.t0, 1e-6)
            self._progress.update(
                self._task,
                description=(
                    f"{self.sources} sources ({self.sources / dt:.1f}/s), "
                    f"{self.chunks} chunks embedded ({self.chunks / dt:.1f}/s), "
                    f"{self.failed} failed"
                ),
            )


def _print_report(report: IngestReport, dry_run: bool) -> None:
    if dry_run:
        out.print("Dry run: nothing was written. The plan:")
        for line in plan_lines(report):
            out.print("  " + escape(line))
    r = report
    out.print(
        f"{r.sources_seen} sources seen: {r.sources_added} added, {r.sources_updated} updated, "
        f"{r.sources_unchanged} unchanged, {r.sources_deleted} deleted, {len(r.errors)} failed; "
        f"{r.chunks_embedded} chunks embedded, {r.chunks_upserted} upserted, "
        f"{r.chunks_deleted} deleted"
    )
    for e in report.errors:
        err_console.print(
            f"  failed {escape(e.source)}: [{e.code}] {escape(' '.join(e.msg.split()))}"
        )


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


@cli.command()
def ingest(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Files, directories (walked recursively) or http(s) URLs.",
            metavar="PATH_OR_URL...",
        ),
    ],
    collection: CollectionOpt = None,
    data_dir: DataDirOpt = None,
    qdrant_url: QdrantOpt = None,
    spec: Annotated[
        Path | None,
        typer.Option(
            "--spec", help="Run this pipeline spec (YAML or JSON) instead of the default."
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
    server: ServerOpt = None,
    json_out: JsonOpt = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
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
    """Sync the collection with .md .txt .rst .html .jsonl files and URLs.

    Re-runs are safe and cheap: unchanged sources embed and write nothing; a changed source
    re-embeds only its new chunks. Exit 4 when some sources failed (each is listed).
    """
    if server:
        job = _remote(_client.ingest(server, paths, prune=prune, dry_run=dry_run))
        _remote_report(job, json_out)
    settings = _settings(collection=collection, data_dir=data_dir, qdrant_url=qdrant_url)
    loaded = read_spec(spec)
    if isinstance(loaded, Err):
        fail(loaded.error, settings)
    cluster = _cluster(workers, dask)
    events = ingest_events(
        settings, loaded.value, paths, prune=prune, dry_run=dry_run, cluster=cluster
    )

    async def _consume(progress: _Progress) -> Result[IngestReport, ErrInfo]:
        """The stream's two consumers: the progress line and the report (its fold)."""
        report = IngestReport(keep_outcomes=dry_run)
        async for item in events():
            if isinstance(item, Err):
                return item
            progress(item.value)
            report.apply(item.value)
        return Ok(report)

    with _Progress(enabled=err_console.is_terminal and not json_out) as progress:
        report = drive(lambda: _consume(progress), settings)
    if json_out:
        print(json.dumps(report.to_json()))
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


def print_hits(hits: list[SearchHit]) -> None:
    if not hits:
        out.print("  (no hits)")
    for n, h in enumerate(hits, 1):
        out.print(f"  {n}. {h.score:.3f}  {escape(h.source)} [{h.start}:{h.end}]")
        out.print(f"     {escape(_snippet(h.text))}")


@cli.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for, in plain words.")],
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="How many hits to return.")] = 5,
    collection: CollectionOpt = None,
    data_dir: DataDirOpt = None,
    qdrant_url: QdrantOpt = None,
    server: ServerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Print the chunks nearest to QUERY, best first, with source and character offsets."""
    if server:
        docs = _remote(_client.search(server, query, k))
        if json_out:
            print(json.dumps(docs))
            return
        for n, d in enumerate(docs if isinstance(docs, list) else [], 1):
            out.print(f"  {n}. {d['score']:.3f}  {escape(d['source'])} [{d['start']}:{d['end']}]")
            out.print(f"     {escape(_snippet(d['text']))}")
        return
    settings = _settings(collection=collection, data_dir=data_dir, qdrant_url=qdrant_url)
    hits = drive(lambda: run_search(settings, query, k), settings)
    if json_out:
        print(json.dumps([h.to_json() for h in hits]))
    else:
        print_hits(hits)


# -- verify ----------------------------------------------------------------------------------


@cli.command()
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
    server: ServerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check that every committed source's points match its version, with no orphan,
    duplicate or half-written source. Exit 4 when a problem remains."""
    if server:
        doc = _remote(_client.verify(server, repair=repair))
        assert isinstance(doc, dict)
        if json_out:
            print(json.dumps(doc))
        else:
            state = "OK" if doc["ok"] else "PROBLEMS FOUND"
            out.print(f"{state}: {doc['sources']} committed sources, {doc['points']} points")
        raise typer.Exit(EXIT_OK if doc["ok"] else EXIT_PARTIAL)
    settings = _settings(collection=collection, data_dir=data_dir, qdrant_url=qdrant_url)
    found, after = drive(lambda: run_verify(settings, repair=repair), settings)
    final = after if after is not None else found
    if json_out:
        doc = {
            "ok": final.ok,
            "sources": final.sources,
            "points": final.points,
            "problems": [p.to_json() for p in final.problems],
        }
        print(json.dumps(doc))
    else:
        if repair and not found.ok:
            out.print(f"Repaired {len(found.problems)} problem(s):")
            for p in found.problems:
                out.print(f"  {escape(p.source)}: [{p.code}] {escape(p.msg)}")
        state = "OK" if final.ok else "PROBLEMS FOUND"
        out.print(f"{state}: {final.sources} committed sources, {final.points} points")
        for p in final.problems:
            err_console.print(f"  {escape(p.source)}: [{p.code}] {escape(p.msg)}")
        if not final.ok:
            err_console.print("Fix: funcpipe-rag verify --repair, then ingest again")
    raise typer.Exit(EXIT_OK if final.ok else EXIT_PARTIAL)


# -- spec ------------------------------------------------------------------------------------

SpecFileArg = Annotated[
    Path | None,
    typer.Argument(help="A spec file (.yaml/.yml or .json); the default spec if omitted."),
]


def _spec(file: Path | None) -> PipelineSpec:
    loaded = read_spec(file)
    if isinstance(loaded, Err):
        fail(loaded.error)
    return loaded.value


@spec_cli.command("show")
def spec_show(
    file: SpecFileArg = None,
    fmt: Annotated[str, typer.Option("--format", help="yaml or json.")] = "yaml",
) -> None:
    """Print the spec (YAML by default): ops, params, policies and hashes."""
    if fmt not in ("yaml", "json"):
        fail(
            ErrInfo(
                codes.INVALID_INPUT, f"--format must be yaml or json, not {fmt!r}", stage="usage"
            )
        )
    sys.stdout.write(spec_text(_spec(file), "yaml" if fmt == "yaml" else "json"))


@spec_cli.command("validate")
def spec_validate(file: SpecFileArg = None) -> None:
    """Check a spec: schema, hashes, and that this app can run every op (exit 2 if not)."""
    s = _spec(file)
    out.print(f"valid: {escape(s.name)} ({len(s.ops)} ops), hash {s.version}")


@spec_cli.command("seal")
def spec_seal(
    file: Annotated[Path, typer.Argument(help="The edited spec file (.yaml/.yml or .json).")],
) -> None:
    """Print FILE with its hashes recomputed, after a deliberate edit (same format).

    Every other check still applies (limits, safe YAML, schema, policies, trusted ops), so
    `funcpipe-rag spec seal my.yaml > sealed.yaml` then `ingest --spec sealed.yaml`.
    """
    loaded = read_spec(file, reseal=True)
    if isinstance(loaded, Err):
        fail(loaded.error)
    sys.stdout.write(spec_text(loaded.value, spec_format(file)))


@spec_cli.command("hash")
def spec_hash(file: SpecFileArg = None) -> None:
    """Print the spec's canonical hash (stamped on every point it writes)."""
    print(spec_hash_of(_spec(file)))


# -- serve -----------------------------------------------------------------------------------


@cli.command()
def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (beyond loopback needs a key).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8765,
    allow_root: Annotated[
        list[Path] | None,
        typer.Option("--allow-root", help="A directory POST /v1/ingest may read (repeatable)."),
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
        typer.Option("--cors-origin", help="Allow browser calls from this origin (repeatable)."),
    ] = None,
    ingest_share: Annotated[
        float,
        typer.Option(
            "--ingest-cpu-share",
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


@cli.command()
def demo() -> None:
    """Ingest the bundled FuncPipe docs into a throwaway store and run sample searches.

    Needs no server and no network; nothing is left behind.
    """
    drive(lambda: run_demo(out.print))


def main() -> None:
    """The console-script entry point."""
    # qdrant-client warns when it cannot read an unreachable server's version; the run then
    # fails with one NETWORK line of its own, so the warning would only be a second, noisy line.
    warnings.filterwarnings("ignore", message="Failed to obtain server version")
    try:
        cli()
    except KeyboardInterrupt:
        err_console.print(
            "funcpipe-rag: interrupted. Fix: run the same command again; re-runs are safe"
        )
        sys.exit(130)


if __name__ == "__main__":
    main()
