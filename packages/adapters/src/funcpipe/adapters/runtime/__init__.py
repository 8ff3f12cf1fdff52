"""funcpipe.adapters.runtime: the interpreter. Shells drive plans and streams only through it.

- ``perform_async(plan)``: run a plan once.
- ``collect_stream(gen, *, limit=None)`` / ``drive_stream(gen, on_item)``: drive a stream; the
  iterator is always closed.
- ``run_blocking``, ``blocking_plan``, ``dedicated_executor``: blocking work off the event loop.
- ``run_main(main)``: a shell's entry point with orderly shutdown on Ctrl-C / SIGTERM.
"""

from ._blocking import blocking_plan as blocking_plan
from ._blocking import dedicated_executor as dedicated_executor
from ._blocking import run_blocking as run_blocking
from ._main import DEFAULT_SIGNALS as DEFAULT_SIGNALS
from ._main import run_main as run_main
from ._perform import perform_async as perform_async
from ._streams import aclose_quietly as aclose_quietly
from ._streams import collect_stream as collect_stream
from ._streams import drive_stream as drive_stream

__all__ = [
    "DEFAULT_SIGNALS",
    "aclose_quietly",
    "blocking_plan",
    "collect_stream",
    "dedicated_executor",
    "drive_stream",
    "perform_async",
    "run_blocking",
    "run_main",
]
