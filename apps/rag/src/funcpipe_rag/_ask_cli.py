"""``funcpipe-rag ask``: an answer with numbered citations (registered on the CLI by
``register_ask``; rendering in ``print_answer``).

Exit codes as every command; a refusal (nothing relevant enough) is not a failure: exit 0,
``"answered": false`` and a one-line reason.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from funcpipe_rag.app import SearchOptions, parse_where
from funcpipe_rag.app._ask import run_ask
from funcpipe_rag.cli import (
    EMBED_ENV,
    STORE_ENV,
    CleanCommand,
    CollectionOpt,
    DataDirOpt,
    JsonOpt,
    QdrantOpt,
    SpecOpt,
    _settings,
    _spec_or_exit,
    _with_collection,
    drive,
    emit_json,
    err_console,
    out,
    usage_error,
)
from funcpipe_rag.pipelines._ask import AskOptions

ASK_HELP = """Answer QUESTION from the collection, each claim followed by a citation [n] of
the chunk it comes from (source key, exact character span, title and headings).

Offline by default (no model, no network): an extractive answer, the 2-4 sentences of the
retrieved chunks that best match the question (the collection's embedder plus term
weighting), chosen with diversity; it cannot say anything the documents do not. When no
passage reaches the relevance floor the answer is a refusal: exit 0, "answered": false and a
one-line reason.

--json prints {"answer", "answered", "citations": [{"n", "source", "title", "headings",
"start", "end", "text"}], "mode", "model", "usage", "truncated", "dropped_markers"}."""


def print_answer(doc: dict[str, object]) -> None:
    """The answer (or the refusal's reason), then one line per citation: ``[n] source
    [start:end]`` and the title and heading path."""
    if not doc.get("answered"):
        out.print(f"No answer: {escape(str(doc.get('reason') or 'nothing relevant found'))}")
        return
    out.print(escape(str(doc.get("answer", ""))))
    cites = doc.get("citations")
    if isinstance(cites, list) and cites:
        out.print("")
        for c in cites:
            if not isinstance(c, dict):
                continue
            raw = c.get("headings")
            where = [str(c.get("title") or "")] + (
                [str(x) for x in raw] if isinstance(raw, list) else []
            )
            path = " > ".join(dict.fromkeys(w for w in where if w))
            line = f"[{c.get('n')}] {c.get('source')} [{c.get('start')}:{c.get('end')}]"
            out.print(escape(line) + (f"  {escape(path)}" if path else ""))
    if doc.get("truncated"):
        err_console.print(
            "funcpipe-rag: warning: the chat server truncated the prompt (it read fewer tokens "
            "than were sent); set FUNCPIPE_CHAT_CONTEXT to the server's context size"
        )


def ask(
    question: Annotated[
        str, typer.Argument(help="The question, in plain words.", metavar="QUESTION")
    ],
    k: Annotated[
        int,
        typer.Option("-k", metavar="N", min=1, max=50, help="How many chunks to answer from."),
    ] = 5,
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            metavar="GLOB",
            help="Only sources with this key or matching this glob (repeatable).",
        ),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            metavar="FIELD=VALUE",
            help="Only chunks whose payload FIELD equals VALUE (as search --where).",
        ),
    ] = None,
    collection: CollectionOpt = None,
    data_dir: DataDirOpt = None,
    qdrant_url: QdrantOpt = None,
    spec: SpecOpt = None,
    json_out: JsonOpt = False,
) -> None:
    try:
        pairs = parse_where(where or [])
        options = AskOptions(SearchOptions(k, min(k, 3), tuple(source or ()), pairs))
    except ValueError as exc:
        usage_error(str(exc))
    settings = _settings(collection=collection, data_dir=data_dir, qdrant_url=qdrant_url)
    if spec is not None:
        settings = _with_collection(settings, _spec_or_exit(spec, settings))
    answer = drive(lambda: run_ask(settings, question, options), settings)
    if json_out:
        emit_json(answer.to_json())
    else:
        print_answer(answer.to_json())
    sys.stdout.flush()


def register_ask(app: typer.Typer) -> None:
    """Add the ``ask`` command to ``app``."""
    app.command(cls=CleanCommand, epilog=STORE_ENV + EMBED_ENV, help=ASK_HELP)(ask)


__all__ = ["ASK_HELP", "ask", "print_answer", "register_ask"]
