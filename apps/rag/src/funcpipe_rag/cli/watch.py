"""``funcpipe-rag watch``: the collection follows folders.

Exit codes: as ``ingest`` for a
failure to start (2 config, 3 backend); 0 after a stop. SIGINT/SIGTERM stop the watch after
the batch running (a safe point); a second signal cancels it at once (a re-run converges).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from funcpipe.adapters.runtime import run_main
from funcpipe.result import Err, ErrInfo, Result, codes
from rich.markup import escape

from funcpipe_rag.adapters import Filters
from funcpipe_rag.app import read_spec
from funcpipe_rag.app._watch import Batch, WatchOptions, run_watch
from funcpipe_rag.domain._watch_plan import DEFAULT_SETTLE

from ._app import EMBED_ENV, KEY_ENV, STORE_ENV, CleanCommand, cli
from ._fail import fail, ok_or_fail, settings_of
from ._io import emit_json, err_console, out
from ._options import CollectionOpt, DataDirOpt, JsonOpt, QdrantOpt


def _stop_on_signals(
    stop: asyncio.Event, task: asyncio.Task[object] | None, say: Callable[[str], None]
) -> None:
    loop = asyncio.get_running_loop()

    def _on(sig: signal.Signals) -> None:
        if stop.is_set() and task is not None:
            task.cancel()  # a second signal: stop now
        stop.set()
        say(f"watch: {sig.name}: stopping after the running batch")

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, _on, sig)
        except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover
            continue


@cli.command(cls=CleanCommand, epilog=STORE_ENV + EMBED_ENV + KEY_ENV)
def watch(
    paths: Annotated[
        list[str], typer.Argument(help="Folders (or files) to follow.", metavar="PATH...")
    ],
    collection: CollectionOpt = None,
    data_dir: DataDirOpt = None,
    qdrant_url: QdrantOpt = None,
    spec: Annotated[
        Path | None,
        typer.Option("--spec", metavar="FILE", help="Run this pipeline spec (YAML or JSON)."),
    ] = None,
    prune: Annotated[
        bool,
        typer.Option("--prune", help="Remove stored sources whose file is confirmed gone."),
    ] = False,
    poll: Annotated[
        bool,
        typer.Option("--poll", help="Poll instead of OS events (network mounts, containers)."),
    ] = False,
    rescan: Annotated[
        float | None,
        typer.Option(
            "--rescan",
            min=1.0,
            metavar="SECONDS",
            help="Also reconcile the whole tree every SECONDS (catches missed events).",
        ),
    ] = None,
    settle: Annotated[
        float,
        typer.Option(
            "--settle",
            min=0.05,
            metavar="SECONDS",
            help="Read a changed file once it has not changed for SECONDS.",
        ),
    ] = DEFAULT_SETTLE,
    include: Annotated[
        list[str] | None,
        typer.Option("--include", metavar="GLOB", help="Only files matching (repeatable)."),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", metavar="GLOB", help="Leave out matching (repeatable)."),
    ] = None,
    key_base: Annotated[
        Path | None,
        typer.Option("--key-base", metavar="DIR", help="Source keys are relative to DIR."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Keep the collection in sync with folders: one ingest, then every change within seconds.

    A changed file is read once it has settled (an atomic save or a copy is read complete); an
    unchanged file costs nothing; moved and copied content reuses its stored vectors. Prints
    one line per applied batch (sources changed, chunks embedded and reused, lag). Ctrl-C
    stops after the running batch.
    """
    settings = settings_of(
        collection=collection, data_dir=data_dir, qdrant_url=qdrant_url, key_base=key_base
    )
    loaded = ok_or_fail(read_spec(spec), settings)
    opts = WatchOptions(
        tuple(paths),
        prune=prune,
        poll=poll,
        rescan=rescan,
        settle=settle,
        filters=Filters(tuple(include or ()), tuple(exclude or ())),
    )

    def say(b: Batch) -> None:
        if json_out:
            emit_json({"at": time.strftime("%Y-%m-%dT%H:%M:%S"), **b.to_json()})
        else:
            out.print(f"{time.strftime('%H:%M:%S')} {escape(b.line())}")

    def warn(msg: str) -> None:
        err_console.print(f"funcpipe-rag watch: warning: {escape(msg)}")

    async def main() -> Result[int, ErrInfo]:
        stop = asyncio.Event()
        _stop_on_signals(stop, asyncio.current_task(), err_console.print)
        return await run_watch(settings, opts, stop, say, spec=loaded, warn=warn)

    res = run_main(main, signals=())
    if isinstance(res, Err):
        if res.error.code == codes.CANCELLED:
            raise typer.Exit(0)
        fail(res.error, settings)
    ok_or_fail(res.value, settings)
    sys.stdout.flush()
    raise typer.Exit(0)
