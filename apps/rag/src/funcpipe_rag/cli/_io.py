"""Where the CLI writes: stdout (results), stderr (progress, failures); a closed stdout
(piping into ``head``) ends the command quietly with 0."""

from __future__ import annotations

import json
import os
import sys

from rich.console import Console


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)


class _Stdout(Console):
    """Rich's console on stdout; a closed stdout (EPIPE) ends the command quietly with 0."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        quiet_stdout()
        raise SystemExit(0)


out = _Stdout(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def one_line(text: str) -> str:
    """``text`` on one line (runs of whitespace, newlines included, become one space)."""
    return " ".join(text.split())


def emit_json(doc: object) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()
