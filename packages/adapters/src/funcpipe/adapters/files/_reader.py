"""FileReader: ``read_text`` for many concurrent callers, one executor hop per batch."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import Executor

import aiofiles.os
from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Result, codes

from ._errors import os_error_info
from ._read import DEFAULT_MAX_BYTES, _read_head_sync, text_of

_Request = tuple[str, int, "asyncio.Future[bytes | OSError]"]


def _read_all(requests: list[tuple[str, int]]) -> list[bytes | OSError]:
    out: list[bytes | OSError] = []
    for path, limit in requests:
        try:
            out.append(_read_head_sync(path, limit))
        except OSError as exc:
            out.append(exc)
    return out


_read_all_off_loop = aiofiles.os.wrap(_read_all)


async def _read_batch(
    requests: list[tuple[str, int]], executor: Executor | None
) -> list[bytes | OSError]:
    """One hop to ``executor`` (the loop's default pool if None) for the whole batch."""
    out: list[bytes | OSError] = await _read_all_off_loop(requests, executor=executor)
    return out


class FileReader:
    """Reads text files like ``read_text``, coalescing the reads that concurrent callers start
    in the same event-loop turn into one hop to ``executor`` (at most ``max_batch`` files
    each), instead of one hop per file.

    - Same results and errors as ``read_text`` (NOT_FOUND, PERMISSION_DENIED, INVALID_INPUT,
      TOO_LARGE, DECODE_ERROR, EMPTY_INPUT), the same memory bound per file; one file failing
      never fails another in its batch.
    - Worth it when a bounded-concurrency map reads many small files (a hop costs more than
      reading a small file); a lone caller simply gets a batch of one.
    - Cancellation: a cancelled caller stops waiting at once; its file may still be read
      with its batch, and the result is dropped.
    - One reader serves one event loop at a time; nothing happens until a plan is run.
    """

    def __init__(self, *, max_batch: int = 32, executor: Executor | None = None) -> None:
        if max_batch < 1:
            raise ValueError(f"FileReader: max_batch must be >= 1, got {max_batch}")
        self._max_batch = max_batch
        self._executor = executor
        self._pending: list[_Request] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    def read_text(
        self, path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> AsyncPlan[str]:
        """A plan that reads ``path`` as UTF-8 text (see ``read_text``)."""
        if max_bytes < 1:
            raise ValueError(f"FileReader.read_text: max_bytes must be >= 1, got {max_bytes}")
        p = os.fspath(path)

        async def _read() -> Result[str, ErrInfo]:
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[bytes | OSError] = loop.create_future()
            self._pending.append((p, max_bytes + 1, fut))
            if not self._scheduled:
                self._scheduled = True
                loop.call_soon(self._flush, loop)  # after this turn's callers have queued
            try:
                got = await fut
            except Exception as exc:
                msg = f"{p}: read failed: {exc}"
                return Err(ErrInfo.from_exception(exc, code=codes.UNEXPECTED, msg=msg))
            if isinstance(got, OSError):
                return Err(os_error_info(got, p))
            return text_of(got, p, max_bytes)

        return _read

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        pending = [r for r in self._pending if not r[2].done()]  # drop cancelled callers
        self._pending = []
        for i in range(0, len(pending), self._max_batch):
            task = loop.create_task(self._run(pending[i : i + self._max_batch]))
            self._tasks.add(task)  # keep a reference until it is done
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[_Request]) -> None:
        try:
            results = await _read_batch([(p, lim) for p, lim, _ in batch], self._executor)
        except asyncio.CancelledError:
            for _, _, fut in batch:
                fut.cancel()
            raise
        except Exception as exc:  # the hop itself failed (e.g. the executor was shut down)
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for (_, _, fut), res in zip(batch, results, strict=True):
            if not fut.done():
                fut.set_result(res)
