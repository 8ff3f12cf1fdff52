"""A bounded pool of extraction worker processes: the event loop never parses a document.

``ExtractPool(jobs, limits).run(fn, data)`` runs ``fn(data, limits)`` (a top-level function,
picklable by name) in one of at most ``jobs`` worker processes and gives its Result. Laws:
at most ``jobs`` extractions run at once (callers past that wait: backpressure for the
bounded map that drives the reads); a worker that runs past ``limits.seconds`` is killed and
the call is ``Err(TIMEOUT)``; a worker that dies (a crash in the extractor's C code) costs
that one call, ``Err(UNEXPECTED)``; either way the next call starts a fresh worker, and the
run goes on. An exception in ``fn`` is ``Err(DECODE_ERROR)``. Cancelling a call kills its
worker. ``jobs == 0`` runs in a thread of this process instead (no time limit can be
enforced there: for tests and one-shot tools). ``close()`` ends every worker; workers are
daemons, so they never outlive the process either.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from funcpipe_rag.domain._locator import Extracted, Limits

ExtractFn = Callable[[bytes, Limits], Result[Extracted, ErrInfo]]


def guarded(fn: ExtractFn, data: bytes, limits: Limits) -> Result[Extracted, ErrInfo]:
    """``fn(data, limits)``, an exception becoming ``Err(DECODE_ERROR)``."""
    try:
        return fn(data, limits)
    except Exception as exc:  # an extractor bug or a library's surprise: one document's error
        msg = f"the extractor failed: {type(exc).__name__}: {exc}"
        return Err(ErrInfo(codes.DECODE_ERROR, msg, stage="extract"))


def _wire(got: Result[Extracted, ErrInfo]) -> tuple[str, object, str]:
    """A Result as plain picklable data (``Ok`` and ``ErrInfo`` do not cross processes)."""
    if isinstance(got, Ok):
        return ("ok", got.value, "")
    return ("err", got.error.code, got.error.msg)


def _serve(conn: Connection) -> None:
    """A worker's loop: ``(fn, data, limits)`` in, a Result (as ``_wire``) out, until the
    pipe closes."""
    while True:
        try:
            fn, data, limits = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(_wire(guarded(fn, data, limits)))


@dataclass
class _Worker:
    proc: BaseProcess
    conn: Connection

    def kill(self) -> None:
        self.conn.close()
        self.proc.kill()
        self.proc.join(5)


_TIMED_OUT = object()


def _call(w: _Worker, job: tuple[ExtractFn, bytes, Limits]) -> object:
    """In a thread: send one job, wait for its answer (or the deadline)."""
    w.conn.send(job)
    if not w.conn.poll(job[2].seconds):
        return _TIMED_OUT
    return w.conn.recv()


def _result(got: object) -> Result[Extracted, ErrInfo]:
    if isinstance(got, tuple) and len(got) == 3:
        tag, value, text = got
        if tag == "ok" and isinstance(value, Extracted):
            return Ok(value)
        if tag == "err" and isinstance(value, str) and isinstance(text, str):
            return Err(ErrInfo(value, text, stage="extract"))
    msg = f"the extraction worker answered {type(got).__name__}"
    return Err(ErrInfo(codes.UNEXPECTED, msg, stage="extract"))


def _context() -> mp.context.ForkServerContext | mp.context.SpawnContext:
    # forkserver on Linux: cheap workers that never inherit the loop's threads
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["__main__", __name__])  # imported once, by the server
        return ctx
    return mp.get_context("spawn")


class ExtractPool:
    """At most ``jobs`` extraction workers (default: the cores); see the module's laws."""

    def __init__(self, jobs: int | None = None) -> None:
        self.jobs = max(0, jobs if jobs is not None else (os.cpu_count() or 1))
        self._idle: list[_Worker] = []
        self._slots: asyncio.Semaphore | None = None
        self._threads: ThreadPoolExecutor | None = None  # made on first use (jobs > 0)
        self.replaced = 0

    def _start(self) -> _Worker:
        ctx = _context()
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(theirs,), daemon=True, name="funcpipe-extract")
        proc.start()
        theirs.close()
        return _Worker(proc, mine)

    async def run(self, fn: ExtractFn, data: bytes, limits: Limits) -> Result[Extracted, ErrInfo]:
        loop = asyncio.get_running_loop()
        if self.jobs == 0:
            return await loop.run_in_executor(None, guarded, fn, data, limits)
        if self._slots is None or self._threads is None:
            self._slots = asyncio.Semaphore(self.jobs)
            self._threads = ThreadPoolExecutor(self.jobs, thread_name_prefix="extract")
        async with self._slots:
            w = (
                self._idle.pop()
                if self._idle
                else await loop.run_in_executor(self._threads, self._start)
            )
            try:
                got = await loop.run_in_executor(
                    self._threads, partial(_call, w, (fn, data, limits))
                )
            except asyncio.CancelledError:
                w.kill()
                raise
            except (EOFError, OSError) as exc:
                w.kill()
                self.replaced += 1
                msg = f"the extraction worker died ({type(exc).__name__}); the pool replaced it"
                return Err(ErrInfo(codes.UNEXPECTED, msg, stage="extract"))
            if got is _TIMED_OUT:
                w.kill()
                self.replaced += 1
                msg = f"extraction ran past {limits.seconds:g} s; its worker was killed"
                return Err(ErrInfo(codes.TIMEOUT, msg, stage="extract"))
            self._idle.append(w)
            return _result(got)

    def close(self) -> None:
        """End every idle worker (a busy one ends with its call or with the process)."""
        while self._idle:
            self._idle.pop().kill()
        if self._threads is not None:
            self._threads.shutdown(wait=False)
