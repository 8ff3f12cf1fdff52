"""The command tree: the ``funcpipe-rag`` Typer app, its groups, clean help, ``--version``."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

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
SERVER_ENV = (
    "\n  FUNCPIPE_SERVER          go through a running funcpipe-rag serve at this URL\n"
    "  FUNCPIPE_API_KEY         its bearer key"
)


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
                args.append((p.metavar or (p.name or "").upper(), getattr(p, "help", "") or ""))
            else:
                opts.append(rec)
        if args:
            with formatter.section("Arguments"):
                formatter.write_dl(args)
        if opts:
            with formatter.section("Options"):
                formatter.write_dl(opts)


def _group(help_text: str) -> typer.Typer:
    return typer.Typer(
        help=help_text,
        no_args_is_help=True,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


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
spec_cli = _group(
    "Show, validate, seal or hash an ingest pipeline spec (the default one without FILE)."
)
cli.add_typer(spec_cli, name="spec")
collection_cli = _group("Manage one collection (see also: funcpipe-rag collections).")
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
        raise typer.Exit(0)


@cli.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Keep a Qdrant collection in sync with your documents, and search it."""
