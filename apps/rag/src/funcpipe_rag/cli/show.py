"""``funcpipe-rag show SOURCE [--span START:END]``: the text a source's offsets point into."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from funcpipe_rag.app import key_base_of, resolve_source, source_text, span_of

from ._app import CleanCommand, cli
from ._fail import drive, ok_or_fail, settings_of


@cli.command(cls=CleanCommand)
def show(
    source: Annotated[
        str, typer.Argument(help="The file (a path, or its source key).", metavar="SOURCE")
    ],
    span: Annotated[
        str | None,
        typer.Option(
            "--span",
            metavar="START:END",
            help="Print only these character offsets (a hit's start:end).",
        ),
    ] = None,
    key_base: Annotated[
        Path | None,
        typer.Option("--key-base", metavar="DIR", help="Where keys are relative to."),
    ] = None,
) -> None:
    """Print the text a source's offsets point into: a text file's clean text, a PDF's or
    DOCX's extracted text (as the ingest read it), or the span START:END of it, so a cited
    span can be checked by anyone."""
    settings = settings_of(key_base=key_base)
    path = resolve_source(source, key_base_of(settings))
    text = drive(lambda: source_text(path, jobs=0), settings)
    sys.stdout.write(text if span is None else ok_or_fail(span_of(text, span)))
