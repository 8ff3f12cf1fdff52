"""The ``funcpipe-rag`` command line: parse, call the app (or a server), render, exit.

One module per command group; the options they share are declared once (``_options``); one
renderer (``_render``) prints the typed values a local run and a ``--server`` run both
produce; failures map to exit codes through the app's one failure model (``_fail``):
0 success; 2 usage, configuration or spec; 3 a backend unavailable; 4 some sources failed;
130 on SIGINT, 143 on SIGTERM; 1 unexpected. An expected failure prints one line naming the
problem and the fix, never a traceback. A closed stdout (piping into ``head``) ends quietly
with 0.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence

from . import ask as ask
from . import ingest as ingest
from . import search as search
from . import serve as serve
from . import show as show
from . import spec as spec
from . import store as store
from . import verify as verify
from . import watch as watch
from ._app import app_version as app_version
from ._app import cli as cli
from ._fail import exit_code_for as exit_code_for
from ._io import err_console, quiet_stdout

EXIT_SIGINT = 130


def _stdout_closed() -> bool:
    """True when click met a closed stdout (EPIPE) and pacified the streams (the wrapper's
    name differs between click and typer's vendored copy)."""
    return type(sys.stdout).__name__.lstrip("_") == "PacifyFlushWrapper"


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
        quiet_stdout()
    if _stdout_closed():
        code = 0
        quiet_stdout()
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        code = 0
        quiet_stdout()
    sys.exit(code)


__all__ = ["app_version", "cli", "exit_code_for", "main"]
