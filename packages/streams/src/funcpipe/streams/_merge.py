"""Fan-in of several streams: async_gen_gather (arrival order) and async_gen_fair_merge."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Sequence
from typing import Any, Final, Generic, TypeVar, cast

from funcpipe.policies import FairnessPolicy
from funcpipe.result import Err, ErrInfo, Result, codes

from ._core import close_stream, open_stream, stream
from ._types import AsyncGen

T = TypeVar("T")

_END: Final = object()


def _source_failed(exc: Exception, stage: str, index: int) -> Err[ErrInfo]:
    return Err(
        ErrInfo.from_exception(exc, code=codes.UNEXPECTED, stage=stage, ctx={"source": index})
    )


async def _cancel_all(tasks: Sequence[asyncio.Task[Any]]) -> None:
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def async_gen_gather(gens: Sequence[AsyncGen[T]], *, max_buffer: int = 16) -> AsyncGen[T]:
    """Run every stream of ``gens`` concurrently and yield their items in arrival order.

    Items of one source keep their order. Sources write into one queue of ``max_buffer``
    items; a source waits while it is full, so at most ``max_buffer`` items plus one per
    source are read ahead of the consumer. A source that raises ends with one
    ``Err(UNEXPECTED)`` item (``ctx["source"]`` is its index) and the others go on. The stream
    ends when every source has ended.

    Tasks: one per source, started when the iteration starts. On early exit they are
    cancelled and awaited and every source is closed exactly once (after a plain ``break``
    that wait goes on in the ``funcpipe.streams.close`` task; ``aclosing`` waits for it).
    ``max_buffer < 1`` raises ``ValueError`` when built.
    """
    if isinstance(max_buffer, bool) or not isinstance(max_buffer, int) or max_buffer < 1:
        raise ValueError(f"async_gen_gather: max_buffer must be an int >= 1, got {max_buffer!r}")
    sources = tuple(gens)

    async def _produce(index: int, queue: asyncio.Queue[object]) -> None:
        try:
            it = open_stream(sources[index])
        except Exception as exc:
            await queue.put(_source_failed(exc, "async_gen_gather", index))
            await queue.put(_END)
            return
        try:
            try:
                async for item in it:
                    await queue.put(item)
            finally:
                await close_stream(it)
        except Exception as exc:  # the source (or its close) failed: one Err item
            await queue.put(_source_failed(exc, "async_gen_gather", index))
        await queue.put(_END)

    async def _gather() -> AsyncGenerator[Result[T, ErrInfo], None]:
        if not sources:
            return
        queue: asyncio.Queue[object] = asyncio.Queue(max_buffer)
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(_produce(i, queue)) for i in range(len(sources))]
        live = len(tasks)
        try:
            while live:
                entry = await queue.get()
                if entry is _END:
                    live -= 1
                else:
                    yield cast("Result[T, ErrInfo]", entry)
        finally:
            await _cancel_all(tasks)

    return stream(_gather)


class _Lane(Generic[T]):
    """One source of a fair merge: a bounded buffer its producer task fills."""

    __slots__ = ("asked", "buf", "done", "emitted", "idle", "space", "weight")

    def __init__(self, weight: int) -> None:
        self.weight = weight
        self.buf: deque[Result[T, ErrInfo]] = deque()
        self.done = False
        self.emitted = 0.0  # items emitted, lifted when the lane comes back from idle
        self.idle = False  # found not ready: skipped until it has an item again
        self.asked: int | None = None  # the merge's turn when the reader asked for an item
        self.space: asyncio.Future[None] | None = None


def async_gen_fair_merge(
    streams: Sequence[AsyncGen[T]], policy: FairnessPolicy | None = None
) -> AsyncGen[T]:
    """Merge ``streams`` fairly by weight, concurrently, each read ahead through a bounded buffer.

    The next item comes from the ready stream with the lowest ``emitted / weight`` ratio (the
    lowest index on ties); ``weight`` is ``policy.weight(i)`` (1 when missing). A stream is
    ready when it has an item buffered or its reader delivers one within a loop turn: when
    the stream whose turn it is has none buffered, the merge yields to the event loop (at most
    two turns) before passing it over, so sources that never wait, or only
    ``await asyncio.sleep(0)``, are always ready even for a consumer that never waits.

    Laws: among streams that are always ready, ``emitted_i / weight_i`` differ by at most
    ``1 / min(weight)`` at every point, so shares converge to the weights; every live stream
    that has an item ready is served. A stream that had nothing ready banks at most one round
    of credit: when it becomes ready again its ratio is lifted to at least the lowest ratio of
    the other ready streams minus one, so it cannot starve them while it catches up. The merge
    is work-conserving: when the consumer is faster than the sources, every ready item is
    emitted and shares follow the sources' speeds. Each source is read ahead by at most
    ``policy.max_buffer_per_stream`` items. A source that raises ends with one
    ``Err(UNEXPECTED)`` item (``ctx["source"]`` is its index).

    Tasks: one per source, started when the iteration starts; on early exit all are cancelled
    and awaited and every source is closed exactly once (after a plain ``break`` that wait
    goes on in the ``funcpipe.streams.close`` task; ``aclosing`` waits for it).
    """
    pol = FairnessPolicy() if policy is None else policy
    if not isinstance(pol, FairnessPolicy):
        raise TypeError(f"async_gen_fair_merge: policy must be a FairnessPolicy, got {pol!r}")
    sources = tuple(streams)
    cap = pol.max_buffer_per_stream

    async def _produce(
        index: int, lane: _Lane[T], wake: list[asyncio.Future[None] | None], turn: list[int]
    ) -> None:
        loop = asyncio.get_running_loop()

        def push(item: Result[T, ErrInfo]) -> None:
            lane.buf.append(item)
            w = wake[0]
            if w is not None and not w.done():
                w.set_result(None)

        try:
            try:
                it = open_stream(sources[index])
            except Exception as exc:
                push(_source_failed(exc, "async_gen_fair_merge", index))
                return
            try:
                try:
                    while True:
                        lane.asked = turn[0]
                        try:
                            item = await it.__anext__()
                        except StopAsyncIteration:
                            break
                        lane.asked = None
                        push(item)
                        while len(lane.buf) >= cap:
                            lane.space = loop.create_future()
                            await lane.space
                finally:
                    await close_stream(it)
            except Exception as exc:  # the source (or its close) failed: one Err item
                push(_source_failed(exc, "async_gen_fair_merge", index))
        finally:
            lane.done = True
            w = wake[0]
            if w is not None and not w.done():
                w.set_result(None)

    async def _merge() -> AsyncGenerator[Result[T, ErrInfo], None]:
        if not sources:
            return
        loop = asyncio.get_running_loop()
        lanes: list[_Lane[T]] = [_Lane(pol.weight(i)) for i in range(len(sources))]
        wake: list[asyncio.Future[None] | None] = [None]
        turn = [0]  # loop turns the merge gave its readers
        tasks = [loop.create_task(_produce(i, lanes[i], wake, turn)) for i in range(len(sources))]
        try:
            while True:
                # the candidates: lanes with an item, and live lanes not yet found not ready
                best: _Lane[T] | None = None
                best_ratio = 0.0
                live = False
                for lane in lanes:
                    if lane.buf or not (lane.done or lane.idle):
                        ratio = lane.emitted / lane.weight
                        if best is None or ratio < best_ratio:
                            best, best_ratio = lane, ratio
                    live = live or not lane.done
                if best is None:
                    if not live:
                        return
                    waiter: asyncio.Future[None] = loop.create_future()
                    wake[0] = waiter
                    await waiter
                    wake[0] = None
                    continue
                if not best.buf:
                    asked = best.asked
                    if asked is not None and asked <= turn[0] - 2:
                        best.idle = True  # its reader had a whole loop turn: not ready
                    else:  # give its reader a loop turn to deliver
                        turn[0] += 1
                        await asyncio.sleep(0)
                    continue
                if best.idle:
                    # back from idle: at most one round of banked credit (``weight`` items)
                    best.idle = False
                    floor = min(
                        (
                            ln.emitted / ln.weight
                            for ln in lanes
                            if ln is not best and (ln.buf or not (ln.done or ln.idle))
                        ),
                        default=best_ratio,
                    )
                    if best_ratio < floor - 1:
                        best.emitted = (floor - 1) * best.weight
                        continue
                item = best.buf.popleft()
                best.emitted += 1
                s = best.space
                if s is not None and not s.done():
                    s.set_result(None)
                yield item
        finally:
            await _cancel_all(tasks)

    return stream(_merge)
