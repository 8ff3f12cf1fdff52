"""The machinery every combinator shares: prompt closing, opening and closing upstreams.

An async generator that a consumer abandons (``break``, an exception) is normally closed
later, by a task that the event loop's finalizer hook schedules. Streams made here close
*promptly* instead: each iteration's generator gets its own finalizer (installed through
``sys.set_asyncgen_hooks`` for that one generator, when the thunk is called) which runs the
generator's ``aclose()`` at once, as far as it goes without waiting, before the statement
after the ``async for`` runs. Cleanup that has to wait (for a task to finish, a thread, a
timer, an async close) is carried on by one task named ``funcpipe.streams.close`` that
resumes exactly where the synchronous part stopped; it is the only task a stream ever leaves
behind, and it ends as soon as the cleanup does. ``contextlib.aclosing`` (an awaited
``aclose()``) leaves nothing: all cleanup has finished when it returns. The consumer
iterates the generator itself: there is no wrapper and no per-item cost.

Combinators close the upstreams they open themselves, in ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator
from typing import Any, TypeVar

from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from ._types import AsyncGen

T = TypeVar("T")

_Agen = AsyncGenerator[Result[T, ErrInfo], None]

_closing: set[asyncio.Task[None]] = set()


def _finalize(agen: AsyncGenerator[Any, None]) -> None:
    """The finalizer of our generators: close now instead of in a task scheduled later."""
    close_now(agen.aclose())


def adopt(agen: _Agen[T]) -> _Agen[T]:
    """Give ``agen`` the prompt-closing finalizer; its body does not start."""
    firstiter, finalizer = sys.get_asyncgen_hooks()
    sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=_finalize)
    try:
        _init_hooks(agen)
    finally:
        sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=finalizer)
    return agen


if sys.version_info >= (3, 13):

    def _init_hooks(agen: AsyncGenerator[Any, None]) -> None:
        """Initialise ``agen``'s hooks without running or closing it.

        Making the first ``asend`` awaitable initialises the hooks (and calls the loop's
        firstiter). Since 3.13, closing that awaitable closes the generator itself, so it is
        dropped unawaited instead; the "never awaited" warning that 3.13 gives for it is
        silenced here, for this one object.
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            agen.__anext__()

else:

    def _init_hooks(agen: AsyncGenerator[Any, None]) -> None:
        """Initialise ``agen``'s hooks: the first ``asend`` awaitable, closed unawaited."""
        agen.__anext__().close()


def stream(make: Callable[[], _Agen[T]]) -> AsyncGen[T]:
    """Turn an async-generator function into an ``AsyncGen`` (a fresh iteration per call)."""

    def _thunk() -> AsyncIterator[Result[T, ErrInfo]]:
        return adopt(make())

    return _thunk


def open_stream(gen: AsyncGen[T]) -> AsyncIterator[Result[T, ErrInfo]]:
    """Start an iteration of ``gen`` for a combinator, which must ``close_stream`` it."""
    return gen()


async def close_stream(it: AsyncIterator[Any]) -> None:
    """Close an upstream iterator if it can be closed (a no-op once it has finished)."""
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        await aclose()


def _ok_parts() -> tuple[Callable[[type[Ok[Any]]], Ok[Any]], Callable[[Ok[Any], Any], None]]:
    """``Ok(v)`` in two C calls (``new(Ok)``, ``set(o, v)``), skipping the frozen dataclass's
    Python ``__init__``; a hot path builds one ``Ok`` per item. Falls back to the generic
    (slower, same result) pair if ``Ok`` ever stops storing ``value`` in a slot."""
    slot = Ok.__dict__.get("value")
    setter = getattr(slot, "__set__", None)
    if setter is not None:
        probe = Ok.__new__(Ok)
        setter(probe, 1)
        if probe == Ok(1):
            return Ok.__new__, setter

    def _set(o: Ok[Any], v: Any) -> None:
        object.__setattr__(o, "value", v)

    return Ok.__new__, _set


new_ok, set_ok = _ok_parts()


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
