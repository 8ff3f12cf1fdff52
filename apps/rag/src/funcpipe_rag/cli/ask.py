"""``funcpipe-rag ask``: an answer with numbered citations (rendering in ``print_answer``).

Exit codes as every command; a refusal (nothing relevant enough) is not a failure: exit 0,
``"answered": false`` and a one-line reason.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from funcpipe.result import Err, ErrInfo, Result
from rich.markup import escape

from funcpipe_rag.app import SearchOptions, parse_where, read_spec
from funcpipe_rag.app._ask import (
    Answer,
    AskDelta,
    AskEvent,
    AskOptions,
    ChatSettings,
    load_chat_settings,
    run_ask,
)

from . import _remote_ask as remote
from ._app import EMBED_ENV, SERVER_ENV, STORE_ENV, CleanCommand, cli
from ._client import ServerClient
from ._fail import drive, fail, ok_or_fail, settings_of, usage_error
from ._io import emit_json, err_console, out
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

ASK_HELP = """Answer QUESTION from the collection, each claim followed by a citation [n] of
the chunk it comes from (source key, exact character span, title and headings).

Offline by default (no model, no network): an extractive answer, the 2-4 sentences of the
retrieved chunks that best match the question (the collection's embedder plus term
weighting), chosen with diversity; it cannot say anything the documents do not. When no
passage reaches the relevance floor the answer is a refusal: exit 0, "answered": false and a
one-line reason.

Model mode, when FUNCPIPE_CHAT_URL names any OpenAI-compatible server (vLLM, llama.cpp server,
Ollama, TGI, OpenAI; FUNCPIPE_CHAT_MODEL the model, FUNCPIPE_CHAT_API_KEY its key,
FUNCPIPE_CHAT_CONTEXT its context window in tokens, default 8192): the model writes the answer
from the retrieved chunks only, citing each by its id; every marker is checked against the
chunks sent (unknown ones are removed and counted in "dropped_markers") and the citations are
renumbered in order of first use. --verify quotes also asks for a quote per citation and keeps
only the claims whose quote is verbatim in the cited chunk. Below the relevance floor the
model is not asked. A prompt the server cut short is reported ("truncated": true, and a
warning). --extractive ignores the model.

--json prints {"answer", "answered", "citations": [{"n", "source", "title", "headings",
"start", "end", "text"}], "mode", "model", "usage", "truncated", "dropped_markers"}."""


def print_answer(doc: dict[str, object]) -> None:
    """The answer (or the refusal's reason), then one line per citation: ``[n] source
    [start:end]`` and the title and heading path."""
    if not doc.get("answered"):
        out.print(f"No answer: {escape(str(doc.get('reason') or 'nothing relevant found'))}")
        return
    if doc.get("answer") is not None:
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


CHAT_ENV = (
    "\n  FUNCPIPE_CHAT_URL        an OpenAI-compatible chat server: model mode (none: extractive)"
    "\n  FUNCPIPE_CHAT_MODEL      its model name"
    "\n  FUNCPIPE_CHAT_API_KEY    its API key"
    "\n  FUNCPIPE_CHAT_CONTEXT    its context window in tokens (default 8192)"
)


@cli.command(cls=CleanCommand, epilog=STORE_ENV + EMBED_ENV + CHAT_ENV + SERVER_ENV, help=ASK_HELP)
def ask(
    question: Annotated[
        str, typer.Argument(help="The question, in plain words.", metavar="QUESTION")
    ],
    k: Annotated[
        int,
        typer.Option("-k", metavar="N", min=1, max=50, help="How many chunks to answer from."),
    ] = 5,
    source: SourceOpt = None,
    where: WhereOpt = None,
    collection: CollectionOpt = None,
    data_dir: DataDirOpt = None,
    qdrant_url: QdrantOpt = None,
    spec: SpecOpt = None,
    server: ServerOpt = None,
    stream: Annotated[
        bool, typer.Option("--stream", help="Print the answer as it is written (model mode).")
    ] = False,
    extractive: Annotated[
        bool, typer.Option("--extractive", help="Answer extractively even if a model is set.")
    ] = False,
    verify: Annotated[
        str | None,
        typer.Option(
            "--verify",
            metavar="quotes",
            help="Model mode: ask a quote per citation; keep only claims whose quote is "
            "verbatim in the cited chunk (the answer is printed after the check).",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    try:
        pairs = parse_where(where or [])
        if verify not in (None, "quotes"):
            raise ValueError(f"--verify {verify!r}: the only check is 'quotes'")
        search = SearchOptions(k, min(k, 3), tuple(source or ()), pairs)
        options = AskOptions(search, verify_quotes=verify == "quotes")
    except ValueError as exc:
        usage_error(str(exc))
    loaded = ok_or_fail(read_spec(spec)) if spec is not None else None
    if server:
        target = server_for(server, {"--data-dir": data_dir, "--qdrant-url": qdrant_url})
        same_collection(target, settings_of(collection=collection), loaded)
        _remote_ask(target, question, options, extractive, stream and not json_out, json_out)
        return
    settings = with_collection(
        settings_of(collection=collection, data_dir=data_dir, qdrant_url=qdrant_url), loaded
    )
    chat: ChatSettings | None = None
    if not extractive:
        got = load_chat_settings()
        if isinstance(got, Err):
            fail(got.error)
        chat = got.value if got.value.url else None
    streamed: list[str] = []

    def on_event(event: AskEvent) -> None:
        if isinstance(event, AskDelta) and stream and not json_out and chat is not None:
            streamed.append(event.text)
            sys.stdout.write(event.text)
            sys.stdout.flush()

    async def _ask() -> Result[Answer, ErrInfo]:
        got = await run_ask(settings, question, options, chat=chat, on_event=on_event)
        if isinstance(got, Err) and not json_out:
            # a stream cut mid-answer: what arrived is printed before the error line
            partial = got.error.ctx.get("partial")
            if streamed or (isinstance(partial, str) and partial):
                sys.stdout.write(("" if streamed else str(partial)) + "\n")
                sys.stdout.flush()
        return got

    answer = drive(_ask, settings)
    doc = answer.to_json()
    if json_out:
        emit_json(doc)
        return
    if streamed:
        sys.stdout.write("\n")
        doc = {**doc, "answer": None}
    print_answer(doc)


def _remote_ask(
    server: ServerClient,
    question: str,
    options: AskOptions,
    extractive: bool,
    stream: bool,
    json_out: bool,
) -> None:
    streamed: list[str] = []

    def on_delta(text: str) -> None:
        streamed.append(text)
        sys.stdout.write(text)
        sys.stdout.flush()

    got = remote.ask(
        server,
        question,
        options.search.k,
        source=options.search.source,
        where=options.search.where,
        extractive=extractive,
        verify_quotes=options.verify_quotes,
        on_delta=on_delta if stream else None,
    )
    if isinstance(got, Err):
        if streamed:
            sys.stdout.write("\n")
        fail(got.error)
    doc = got.value if isinstance(got.value, dict) else {}
    if json_out:
        emit_json(doc)
        return
    if streamed:
        sys.stdout.write("\n")
        doc = {**doc, "answer": None}
    print_answer(doc)
