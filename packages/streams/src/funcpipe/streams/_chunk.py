"""async_gen_chunk: batches by size and by age, on an injected Sleeper."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, Final, TypeVar

from funcpipe.policies import ChunkPolicy, Sleeper
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from ._core import close_stream, open_stream, stream, unexpected
from ._types import AsyncGen

T = TypeVar("T")

_END: Final = object()


async def _next(it: AsyncIterator[Result[T, ErrInfo]]) -> Result[T, ErrInfo] | object:
    try:
        return await it.__anext__()
    except StopAsyncIteration:
        return _END


def async_gen_chunk(
    source: AsyncGen[T], policy: ChunkPolicy[T]
) -> Callable[[Sleeper], AsyncGen[list[T]]]:
    """Batch the Ok values of ``source``: ``async_gen_chunk(src, policy)(sleeper)``.

    An item costs ``max(1, size_fn(item))`` units. A batch is emitted as ``Ok(list)`` when
    adding the next item would pass ``policy.max_units``, when it reaches ``max_units``, when
    its first item is ``max_delay_ms`` old (by ``sleeper.now_ms()``; the wait uses
    ``sleeper.sleep_ms``, so no item waits longer even if the source stalls), and at the end of
    the stream. Laws: order and completeness (concatenating the batches gives the Ok values in
    order); never an empty batch; every batch fits ``max_units``, in units and so in items too
    (a size of 0 still takes a unit: zero-size items cannot make a batch unbounded), except a
    single item that is bigger on its own, which goes alone. An ``Err`` item flushes the
    pending batch first when ``flush_on_err`` (else it is yielded at once, ahead of the pending
    batch); a ``size_fn`` that raises or returns a negative size or a non-int makes that item
    an ``Err`` (``UNEXPECTED``, ``INVALID_INPUT``). One item of look-ahead: the source is read
    one item beyond the batch at most. (A policy with neither limit cannot be built:
    ``ChunkPolicy`` refuses it.)

    Tasks: while a batch waits on a slow source, one task reads the source and one sleeps to
    the deadline; both are cancelled and awaited on exit, and the source is closed once (after
    a plain ``break`` that wait goes on in the ``funcpipe.streams.close`` task). An
    exception raised by the source is raised after the pending batch is yielded.
    """
    if not isinstance(policy, ChunkPolicy):
        raise TypeError(f"async_gen_chunk: policy must be a ChunkPolicy, got {policy!r}")
    max_units = policy.max_units
    max_delay = policy.max_delay_ms
    flush_on_err = policy.flush_on_err
    size_fn = policy.size_fn

    def _with_sleeper(sleeper: Sleeper) -> AsyncGen[list[T]]:
        async def _chunk() -> AsyncGenerator[Result[list[T], ErrInfo], None]:
            loop = asyncio.get_running_loop()
            it = open_stream(source)
            batch: list[T] = []
            units = 0
            started_ms = 0
            pull: asyncio.Task[Result[T, ErrInfo] | object] | None = None
            timer: asyncio.Task[None] | None = None
            dying: list[asyncio.Task[Any]] = []  # cancelled timers, finished by the next await

            def take() -> Ok[list[T]]:
                nonlocal batch, units, timer
                out = Ok(batch)
                batch, units = [], 0
                if timer is not None:
                    timer.cancel()
                    dying[:] = [t for t in dying if not t.done()]
                    dying.append(timer)
                    timer = None
                return out

            try:
                while True:
                    got: Result[T, ErrInfo] | object
                    try:
                        if batch and max_delay:
                            remaining = started_ms + max_delay - sleeper.now_ms()
                            if remaining <= 0:
                                yield take()
                                continue
                            if pull is None:
                                pull = loop.create_task(_next(it))
                            if timer is None:
                                timer = loop.create_task(_sleep(sleeper, remaining))
                            await asyncio.wait((pull, timer), return_when=asyncio.FIRST_COMPLETED)
                            if not pull.done():
                                yield take()  # the deadline came first
                                continue
                            got, pull = pull.result(), None
                        elif pull is not None:
                            got = await pull
                            pull = None
                        else:
                            got = await _next(it)
                    except Exception:
                        if batch:
                            yield take()
                        raise
                    if got is _END:
                        if batch:
                            yield take()
                        return
                    if isinstance(got, Err):
                        if flush_on_err and batch:
                            yield take()
                        yield got
                        continue
                    assert isinstance(got, Ok)
                    value: T = got.value
                    try:
                        size = size_fn(value)
                    except Exception as exc:
                        bad: Err[ErrInfo] | None = unexpected(exc, "async_gen_chunk")
                    else:
                        bad = None
                        if not isinstance(size, int) or size < 0:
                            bad = Err(
                                ErrInfo(
                                    code=codes.INVALID_INPUT,
                                    msg=f"size_fn returned {size!r}, not an int >= 0",
                                    stage="async_gen_chunk",
                                )
                            )
                    if bad is not None:
                        if flush_on_err and batch:
                            yield take()
                        yield bad
                        continue
                    cost = size if size > 0 else 1  # a zero size still takes a unit
                    now = sleeper.now_ms()
                    if batch and max_delay and now - started_ms >= max_delay:
                        yield take()
                    if max_units and cost > max_units:
                        if batch:
                            yield take()
                        yield Ok([value])
                        continue
                    if max_units and batch and units + cost > max_units:
                        yield take()
                    if not batch:
                        started_ms = now
                    batch.append(value)
                    units += cost
                    if max_units and units >= max_units:
                        yield take()
            finally:
                pending = [t for t in (pull, timer, *dying) if t is not None]
                for t in pending:
                    t.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                await close_stream(it)

        return stream(_chunk)

    return _with_sleeper


async def _sleep(sleeper: Sleeper, ms: int) -> None:
    await sleeper.sleep_ms(ms)
