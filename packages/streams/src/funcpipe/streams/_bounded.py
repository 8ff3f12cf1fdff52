"""async_gen_bounded_map: concurrent per-item plans with a bounded window."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from types import CoroutineType
from typing import Any, Generic, TypeAlias, TypeVar

from funcpipe.async_plan import AsyncPlan
from funcpipe.policies import BackpressurePolicy
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from ._core import close_stream, open_stream, stream, unexpected
from ._types import AsyncGen

T = TypeVar("T")
U = TypeVar("U")

_Task = asyncio.Task[Result[U, ErrInfo]]
_Entry: TypeAlias = "_Task[U] | Result[U, ErrInfo]"


class _Window(Generic[U]):
    """What the feeder task and the consuming generator share; at most ``size`` entries."""

    __slots__ = (
        "_consumer",
        "_feeder",
        "closing",
        "entries",
        "error",
        "finished",
        "in_flight",
        "size",
        "used",
    )

    def __init__(self, size: int) -> None:
        self.size = size
        self.used = 0  # entries started and not yet handed to the consumer
        self.entries: deque[_Entry[U]] = deque()
        self.in_flight: set[_Task[U]] = set()  # unordered mode only
        self.finished = False
        self.closing = False
        self.error: BaseException | None = None
        self._feeder: asyncio.Future[None] | None = None
        self._consumer: asyncio.Future[None] | None = None

    def wake_consumer(self) -> None:
        w = self._consumer
        if w is not None and not w.done():
            w.set_result(None)

    def release(self) -> None:
        self.used -= 1
        w = self._feeder
        if w is not None and not w.done():
            w.set_result(None)

    async def wait_space(self) -> None:
        while self.used >= self.size:
            self._feeder = asyncio.get_running_loop().create_future()
            await self._feeder
        self._feeder = None

    async def wait_entry(self) -> None:
        self._consumer = asyncio.get_running_loop().create_future()
        await self._consumer
        self._consumer = None

    def on_done(self, task: _Task[U]) -> None:
        """Unordered mode: a finished plan's Result joins the queue of results to yield."""
        self.in_flight.discard(task)
        if task.cancelled():
            if self.closing:  # we cancelled it on exit
                return
            res: Result[U, ErrInfo] = _cancelled()
        else:
            exc = task.exception()
            res = task.result() if exc is None else unexpected(exc, "async_gen_bounded_map")
        self.entries.append(res)
        self.wake_consumer()


async def _await(aw: Awaitable[Result[U, ErrInfo]]) -> Result[U, ErrInfo]:
    return await aw


def _cancelled() -> Err[ErrInfo]:
    return Err(
        ErrInfo(code=codes.CANCELLED, msg="the plan was cancelled", stage="async_gen_bounded_map")
    )


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def async_gen_bounded_map(
    source: AsyncGen[T], f: Callable[[T], AsyncPlan[U]], policy: BackpressurePolicy
) -> AsyncGen[U]:
    """Run the plan ``f(v)`` for each Ok value concurrently, at most ``max_concurrent`` at once.

    Ordered mode (``policy.ordered``) yields results in input order through a window of
    ``max_concurrent`` entries: behind a slow item no more than ``max_concurrent`` results are
    held and no new plan starts. Unordered mode yields each result as soon as it completes;
    started-but-not-yielded results are bounded by ``max_concurrent`` too. Source ``Err`` items
    pass through (in place when ordered) and ``f`` is not called for them; an exception from
    ``f`` or its plan becomes ``Err(UNEXPECTED)`` for that item. The source is read one item
    at a time and only when there is room. With ``max_concurrent=1`` and ordered mode this is
    ``async_gen_map_action``.

    Tasks: one feeder task reads the source, one task runs each plan; all are created when the
    iteration starts, never when the stream is built. On early exit every running plan is
    cancelled and awaited, the source is closed once, and no task is left (after a plain
    ``break`` that wait goes on in the ``funcpipe.streams.close`` task; ``aclosing`` waits).
    An exception raised by the source propagates, at its position when ordered.
    """
    if not isinstance(policy, BackpressurePolicy):
        raise TypeError(
            f"async_gen_bounded_map: policy must be a BackpressurePolicy, got {policy!r}"
        )
    size = policy.max_concurrent
    ordered = policy.ordered

    async def _feed(w: _Window[U]) -> None:
        loop = asyncio.get_running_loop()
        try:
            it: AsyncIterator[Result[T, ErrInfo]] = open_stream(source)
        except Exception as exc:
            w.error = exc
            w.finished = True
            w.wake_consumer()
            return
        try:
            try:
                while True:
                    if w.used >= size:
                        await w.wait_space()
                    try:
                        item = await it.__anext__()
                    except StopAsyncIteration:
                        break
                    w.used += 1
                    entry: _Entry[U]
                    if isinstance(item, Ok):
                        try:
                            aw = f(item.value)()
                        except Exception as exc:
                            entry = unexpected(exc, "async_gen_bounded_map")
                        else:
                            # A coroutine runs as the task itself: no wrapper frame per item.
                            task = loop.create_task(aw if type(aw) is CoroutineType else _await(aw))
                            if not ordered:
                                w.in_flight.add(task)
                                task.add_done_callback(w.on_done)
                                continue
                            entry = task
                    else:
                        entry = item
                    w.entries.append(entry)
                    w.wake_consumer()
            finally:
                await close_stream(it)
        except Exception as exc:  # raised by the source (or its close): re-raised in place
            w.error = exc
        finally:
            w.finished = True
            w.wake_consumer()

    async def _run() -> AsyncGenerator[Result[U, ErrInfo], None]:
        w: _Window[U] = _Window(size)
        entries = w.entries
        feeder = asyncio.get_running_loop().create_task(_feed(w))
        try:
            while True:
                if entries:
                    head = entries[0]
                    res: Result[U, ErrInfo]
                    if isinstance(head, asyncio.Task):
                        try:
                            res = await head
                        except asyncio.CancelledError:
                            if not head.cancelled() or _cancelling():
                                raise
                            res = _cancelled()
                        except Exception as exc:
                            res = unexpected(exc, "async_gen_bounded_map")
                    else:
                        res = head
                    entries.popleft()
                    w.release()
                    yield res
                elif w.finished and not w.in_flight:
                    if w.error is not None:
                        raise w.error
                    return
                else:
                    await w.wait_entry()
        finally:
            w.closing = True
            tasks: list[asyncio.Future[Any]] = [feeder]
            tasks += [e for e in entries if isinstance(e, asyncio.Task)]
            tasks += w.in_flight
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    return stream(_run)
