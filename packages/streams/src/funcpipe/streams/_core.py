"""The machinery every combinator shares: prompt closing, opening and closing upstreams.

An async generator that a consumer abandons (``break``, an exception) is normally closed
later, by a task the event loop schedules from its finalizer hook. Streams made here close
*promptly* instead: the iterator handed to the consumer is a thin ``_Stream`` wrapper whose
``__del__`` runs the generator's ``aclose()`` at once, so the whole chain of upstreams and
resources is released before the statement after the ``async for`` runs. Cleanup that has to
wait (for a task to finish, a thread, a timer) is carried on by a background task that
resumes exactly where the synchronous part stopped; that is the only task a stream ever
leaves behind, and it ends as soon as the cleanup does.

Combinators never iterate through the wrapper: ``open_stream`` takes the raw generator out
(so the hot path pays nothing) and the combinator closes it itself in ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar

from funcpipe.result import Err, ErrInfo, Result, codes

from ._types import AsyncGen

T = TypeVar("T")

_Agen = AsyncGenerator[Result[T, ErrInfo], None]

_closing: set[asyncio.Task[None]] = set()


class _Stream(Generic[T]):
    """The iterator a stream thunk returns: an async generator that closes promptly."""

    __slots__ = ("__weakref__", "_agen")

    def __init__(self, agen: _Agen[T]) -> None:
        self._agen: _Agen[T] | None = agen

    def __aiter__(self) -> _Stream[T]:
        return self

    def __anext__(self) -> Awaitable[Result[T, ErrInfo]]:
        agen = self._agen
        if agen is None:
            raise RuntimeError("this stream iterator was handed to another combinator")
        return agen.__anext__()

    async def aclose(self) -> None:
        """Close the stream: every upstream is closed and every resource released."""
        agen = self._agen
        if agen is not None:
            await agen.aclose()

    def detach(self) -> _Agen[T] | None:
        """Take the raw generator out; the caller becomes responsible for closing it."""
        agen, self._agen = self._agen, None
        return agen

    def __del__(self) -> None:
        agen = self._agen
        if agen is not None and getattr(agen, "ag_frame", None) is not None:
            close_now(agen.aclose())


def stream(make: Callable[[], _Agen[T]]) -> AsyncGen[T]:
    """Turn an async-generator function into an ``AsyncGen`` (a fresh iteration per call)."""

    def _thunk() -> AsyncIterator[Result[T, ErrInfo]]:
        return _Stream(make())

    return _thunk


def open_stream(gen: AsyncGen[T]) -> AsyncIterator[Result[T, ErrInfo]]:
    """Start an iteration of ``gen`` for a combinator, which must ``close_stream`` it."""
    it = gen()
    if isinstance(it, _Stream):
        agen = it.detach()
        if agen is not None:
            return agen
    return it


async def close_stream(it: AsyncIterator[Any]) -> None:
    """Close an upstream iterator if it can be closed (a no-op once it has finished)."""
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        await aclose()


def unexpected(exc: BaseException, stage: str) -> Err[ErrInfo]:
    """An ``Err(UNEXPECTED)`` item for an exception raised by user code inside a combinator."""
    return Err(ErrInfo.from_exception(exc, code=codes.UNEXPECTED, stage=stage))


def close_now(coro: Generator[Any, None, Any] | Awaitable[Any]) -> None:
    """Run the cleanup awaitable ``coro`` synchronously as far as it goes without waiting.

    If it has to wait, the rest runs in a task on the running loop. Failures are reported to
    the loop's exception handler, as asyncio does for generators it finalises.
    """
    step: Any = coro
    try:
        yielded = step.send(None)
    except StopIteration:
        return
    except BaseException as exc:  # reported, never lost silently
        _report(exc)
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no loop to finish on (interpreter shutdown): give up quietly
        with contextlib.suppress(BaseException):
            step.close()
        return
    task = loop.create_task(_finish(step, yielded), name="funcpipe.streams.close")
    _closing.add(task)  # a strong reference until the cleanup is done
    task.add_done_callback(_closing.discard)


async def _finish(step: Any, yielded: Any) -> None:
    """Carry on a partially run coroutine exactly as its own task would have."""
    while True:
        pending: BaseException | None = None
        try:
            if yielded is None:
                await asyncio.sleep(0)
            else:
                # As a task does: the future said it wants to block; we take that over.
                yielded._asyncio_future_blocking = False
                await yielded
        except asyncio.CancelledError as exc:
            if not (isinstance(yielded, asyncio.Future) and yielded.cancelled()):
                pending = exc
        except BaseException:  # the coroutine reads the outcome itself
            pass
        try:
            yielded = step.send(None) if pending is None else step.throw(pending)
        except StopIteration:
            return
        except BaseException as exc:  # reported, never lost silently
            _report(exc)
            return


def _report(exc: BaseException) -> None:
    if isinstance(exc, (GeneratorExit, asyncio.CancelledError)):
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    loop.call_exception_handler(
        {"message": "funcpipe.streams: error while closing a stream", "exception": exc}
    )
