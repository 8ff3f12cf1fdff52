"""run_main: drive a shell's main coroutine with orderly shutdown."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import TypeVar

from funcpipe.result import Err, ErrInfo, Ok, Result, codes

R = TypeVar("R")

DEFAULT_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in tasks:
        t.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def run_main(
    main: Callable[[], Coroutine[object, object, R]],
    *,
    signals: Iterable[signal.Signals] = DEFAULT_SIGNALS,
) -> Result[R, ErrInfo]:
    """Run ``main()`` on a fresh event loop and shut down in order; the exit code is yours.

    - ``Ok(value)``: ``main`` returned and no signal arrived.
    - ``Err(CANCELLED)``: a signal in ``signals`` (Ctrl-C, SIGTERM) arrived, or ``main`` was
      cancelled; ``ctx["signal"]`` names the signal. The main task is cancelled, so its
      ``async with`` / ``finally`` blocks run (streams closed, connections released).
    - ``Err(UNEXPECTED)``: ``main`` raised; ``cause`` holds the exception.

    Then, always: leftover tasks are cancelled and awaited, unfinished async generators are
    closed, the default executor is shut down, and the loop is closed. Signal handlers are
    installed only in the main thread; a second signal during shutdown gets Python's default
    behaviour (e.g. ``KeyboardInterrupt``), so a user can force an exit.
    """
    loop = asyncio.new_event_loop()
    received: list[str] = []
    installed: list[signal.Signals] = []
    try:
        task = loop.create_task(main())

        def _on_signal(sig: signal.Signals) -> None:
            received.append(sig.name)
            task.cancel()

        if threading.current_thread() is threading.main_thread():
            for sig in signals:
                try:
                    loop.add_signal_handler(sig, _on_signal, sig)
                except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover
                    continue
                installed.append(sig)
        try:
            value = loop.run_until_complete(task)
            outcome: Result[R, ErrInfo] = Ok(value)
        except asyncio.CancelledError:
            outcome = Err(ErrInfo(codes.CANCELLED, "cancelled"))
        except Exception as exc:
            outcome = Err(ErrInfo.from_exception(exc, code=codes.UNEXPECTED))
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
        if received:
            outcome = Err(
                ErrInfo(
                    codes.CANCELLED, f"interrupted by {received[0]}", ctx={"signal": received[0]}
                )
            )
        return outcome
    finally:
        try:
            _cancel_leftovers(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
