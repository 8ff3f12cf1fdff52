"""The building blocks: sources, map, bind, flatten, filter, resources, lifts.

Laws (``~`` means "yields the same items"): ``async_gen_and_then`` is a monad bind on the Ok
path with ``async_gen_return`` as unit (left identity, right identity, associativity);
``async_gen_map`` is a functor (identity, composition). Every combinator here is sequential:
it starts no task. An ``Err`` item flows on in place and never ends the stream; no user
function is called for it. An exception raised by a user function becomes an
``Err(UNEXPECTED)`` item in place of the item it was called for; an exception raised by an
upstream iterator propagates. Closing a stream early (``break``, ``aclose()``, an exception
downstream, cancellation) closes its upstream exactly once and releases its resources.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import AbstractAsyncContextManager
from typing import Generic, ParamSpec, TypeVar, overload

from funcpipe.async_plan import AsyncPlan, run_guarded
from funcpipe.result import Err, ErrInfo, Ok, Result

from ._core import close_stream, new_ok, open_stream, set_ok, stream, unexpected
from ._types import AsyncGen

T = TypeVar("T")
U = TypeVar("U")
R = TypeVar("R")
P = ParamSpec("P")

_Items = AsyncGenerator[Result[T, ErrInfo], None]


def async_gen_return(value: T) -> AsyncGen[T]:
    """A stream of exactly one item, ``Ok(value)``: the unit of ``async_gen_and_then``."""

    async def _return() -> _Items[T]:
        yield Ok(value)

    return stream(_return)


def async_gen_from_list(items: Iterable[T]) -> AsyncGen[T]:
    """A stream of ``Ok(x)`` for each ``x`` of ``items``, in order.

    ``items`` is copied into a tuple when the stream is built, so every iteration replays the
    same items.
    """
    frozen = tuple(items)
    new, set_value = new_ok, set_ok

    async def _from_list() -> _Items[T]:
        for x in frozen:
            ok: Ok[T] = new(Ok)  # Ok(x), built without Ok.__init__
            set_value(ok, x)
            yield ok

    return stream(_from_list)


def async_gen_from_results(results: Iterable[Result[T, ErrInfo]]) -> AsyncGen[T]:
    """A stream of the given Results as they are (copied when built, replayed per iteration)."""
    frozen = tuple(results)

    async def _from_results() -> _Items[T]:
        for r in frozen:
            yield r

    return stream(_from_results)


def async_gen_map(gen: AsyncGen[T], f: Callable[[T], U]) -> AsyncGen[U]:
    """Apply the pure ``f`` to each Ok value; ``Err`` items pass through.

    Laws: ``map(g, id) ~ g``; ``map(map(g, f), h) ~ map(g, h . f)``. The second law is also how
    a chain of maps runs: consecutive maps are fused into one stage (same items, same calls in
    the same order, one Result per item instead of one per stage). An exception from ``f``
    becomes ``Err(UNEXPECTED)`` for that item only.
    """
    parts = getattr(gen, _MAP_PARTS, None)
    if parts is not None:
        inner_src, inner_f = parts
        return _map_stage(inner_src, _compose(inner_f, f))
    return _map_stage(gen, f)


_MAP_PARTS = "_funcpipe_map_parts"


def _compose(g: Callable[[T], R], f: Callable[[R], U]) -> Callable[[T], U]:
    def _fg(x: T) -> U:
        return f(g(x))

    return _fg


def _map_stage(gen: AsyncGen[T], f: Callable[[T], U]) -> AsyncGen[U]:
    new, set_value = new_ok, set_ok

    async def _map() -> _Items[U]:
        it = open_stream(gen)
        try:
            async for item in it:
                if isinstance(item, Ok):
                    out: Result[U, ErrInfo]
                    try:
                        out = new(Ok)  # Ok(f(item.value)), built without Ok.__init__
                        set_value(out, f(item.value))
                    except Exception as exc:
                        out = unexpected(exc, "async_gen_map")
                    yield out
                else:
                    yield item
        finally:
            await close_stream(it)

    thunk = stream(_map)
    setattr(thunk, _MAP_PARTS, (gen, f))  # lets a following map fuse with this one
    return thunk


def async_gen_map_err(gen: AsyncGen[T], f: Callable[[ErrInfo], ErrInfo]) -> AsyncGen[T]:
    """Apply ``f`` to each ``Err``'s error (e.g. to add a stage or path); Ok items pass through."""

    async def _map_err() -> _Items[T]:
        it = open_stream(gen)
        try:
            async for item in it:
                if isinstance(item, Err):
                    try:
                        out: Result[T, ErrInfo] = Err(f(item.error))
                    except Exception as exc:
                        out = unexpected(exc, "async_gen_map_err")
                    yield out
                else:
                    yield item
        finally:
            await close_stream(it)

    return stream(_map_err)


def async_gen_map_action(gen: AsyncGen[T], f: Callable[[T], AsyncPlan[U]]) -> AsyncGen[U]:
    """Run the plan ``f(v)`` for each Ok value, one at a time, and yield its Result.

    ``Err`` items pass through without calling ``f``. An exception from ``f`` or from the plan
    becomes ``Err(UNEXPECTED)`` for that item. For concurrency use ``async_gen_bounded_map``.
    Cancellation propagates into the running plan.
    """

    async def _map_action() -> _Items[U]:
        it = open_stream(gen)
        try:
            async for item in it:
                if isinstance(item, Ok):
                    try:
                        plan = f(item.value)
                    except Exception as exc:
                        yield unexpected(exc, "async_gen_map_action")
                        continue
                    yield await run_guarded(plan)
                else:
                    yield item
        finally:
            await close_stream(it)

    return stream(_map_action)


def async_gen_and_then(gen: AsyncGen[T], f: Callable[[T], AsyncGen[U]]) -> AsyncGen[U]:
    """Monadic bind: for each Ok value ``v``, yield every item of the stream ``f(v)``.

    Laws: ``and_then(return(x), f) ~ f(x)``; ``and_then(g, return) ~ g``;
    ``and_then(and_then(g, f), h) ~ and_then(g, lambda x: and_then(f(x), h))``. Inner streams
    run one after another and each is closed before the next starts. An ``Err`` item passes
    through (``f`` is not called); an exception from ``f`` becomes ``Err(UNEXPECTED)``.
    """

    async def _and_then() -> _Items[U]:
        it = open_stream(gen)
        try:
            async for item in it:
                if isinstance(item, Ok):
                    try:
                        inner = open_stream(f(item.value))
                    except Exception as exc:
                        yield unexpected(exc, "async_gen_and_then")
                        continue
                    try:
                        async for sub in inner:
                            yield sub
                    finally:
                        await close_stream(inner)
                else:
                    yield item
        finally:
            await close_stream(it)

    return stream(_and_then)


def async_gen_flat_map(gen: AsyncGen[T], f: Callable[[T], AsyncGen[U]]) -> AsyncGen[U]:
    """The same as ``async_gen_and_then`` (the name the seeds use in pipelines)."""
    return async_gen_and_then(gen, f)


@overload
def async_gen_flatten(gen: AsyncGen[Sequence[Result[T, ErrInfo]]]) -> AsyncGen[T]: ...


@overload
def async_gen_flatten(gen: AsyncGen[Iterable[T]]) -> AsyncGen[T]: ...


def async_gen_flatten(gen: AsyncGen[Iterable[object]]) -> AsyncGen[object]:
    """A stream of sequences becomes a stream of their items, in order.

    An element that is already a Result (``Ok``/``Err``) is yielded as it is, so a batch of
    per-item Results (e.g. from a batch call) flattens into those Results; any other element
    ``x`` becomes ``Ok(x)``. An ``Err`` item of the outer stream passes through. Iterating a
    sequence that raises yields ``Err(UNEXPECTED)`` after the elements already produced.
    """

    async def _flatten() -> _Items[object]:
        it = open_stream(gen)
        try:
            async for item in it:
                if isinstance(item, Ok):
                    try:
                        xs = iter(item.value)
                    except Exception as exc:
                        yield unexpected(exc, "async_gen_flatten")
                        continue
                    while True:
                        try:
                            x = next(xs)
                        except StopIteration:
                            break
                        except Exception as exc:
                            yield unexpected(exc, "async_gen_flatten")
                            break
                        yield x if isinstance(x, (Ok, Err)) else Ok(x)
                else:
                    yield item
        finally:
            await close_stream(it)

    return stream(_flatten)


def async_gen_filter(gen: AsyncGen[T], pred: Callable[[T], bool]) -> AsyncGen[T]:
    """Keep the Ok items whose value satisfies ``pred``; every ``Err`` item passes through.

    An exception from ``pred`` becomes ``Err(UNEXPECTED)`` in place of that item.
    """

    async def _filter() -> _Items[T]:
        it = open_stream(gen)
        try:
            async for item in it:
                if isinstance(item, Ok):
                    try:
                        keep = pred(item.value)
                    except Exception as exc:
                        yield unexpected(exc, "async_gen_filter")
                        continue
                    if keep:
                        yield item
                else:
                    yield item
        finally:
            await close_stream(it)

    return stream(_filter)


def async_gen_tap(gen: AsyncGen[T], f: Callable[[T], object]) -> AsyncGen[T]:
    """Call ``f(v)`` on each Ok value as it passes, for observation; items are unchanged.

    Law: ``tap(g, f) ~ g`` for any ``f`` that returns. If ``f`` raises, that item becomes
    ``Err(UNEXPECTED)``.
    """

    async def _tap() -> _Items[T]:
        it = open_stream(gen)
        try:
            async for item in it:
                if isinstance(item, Ok):
                    try:
                        f(item.value)
                    except Exception as exc:
                        yield unexpected(exc, "async_gen_tap")
                        continue
                yield item
        finally:
            await close_stream(it)

    return stream(_tap)


def async_gen_take(gen: AsyncGen[T], n: int) -> AsyncGen[T]:
    """The first ``n`` items (``Ok`` or ``Err``) of ``gen``; then ``gen`` is closed.

    Law: ``take(g, n)`` is the length-``n`` prefix of ``g``. With ``n == 0`` the upstream is
    never started. ``n < 0`` raises ``ValueError`` when built.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"async_gen_take: n must be an int >= 0, got {n!r}")

    async def _take() -> _Items[T]:
        if n == 0:
            return
        it = open_stream(gen)
        try:
            left = n
            async for item in it:
                yield item
                left -= 1
                if left == 0:
                    break
        finally:
            await close_stream(it)

    return stream(_take)


def async_gen_collect(gen: AsyncGen[T]) -> AsyncPlan[list[Result[T, ErrInfo]]]:
    """A plan that drives ``gen`` to its end and returns ``Ok`` of every item, Errs included.

    It materialises the whole stream: use it on finite streams (``async_gen_take`` bounds
    one). An exception raised by the stream becomes ``Err(UNEXPECTED)`` for the plan; the
    stream is closed in every case, cancellation included.
    """

    async def _collect() -> Result[list[Result[T, ErrInfo]], ErrInfo]:
        it = open_stream(gen)
        try:
            return Ok([item async for item in it])
        except Exception as exc:
            return unexpected(exc, "async_gen_collect")
        finally:
            await close_stream(it)

    return _collect


def lift_async_item(fn: Callable[[T], Awaitable[Result[U, ErrInfo]]]) -> Callable[[T], AsyncGen[U]]:
    """Lift a per-item async function into a one-item stream per value (for ``and_then``).

    ``lift_async_item(fn)(x)`` yields ``await fn(x)``; an exception becomes
    ``Err(UNEXPECTED)``. Each iteration calls ``fn`` afresh.
    """

    def _bind(x: T) -> AsyncGen[U]:
        async def _item() -> _Items[U]:
            try:
                res = await fn(x)
            except Exception as exc:
                res = unexpected(exc, "lift_async_item")
            yield res

        return stream(_item)

    return _bind


def async_gen_using(
    cm_thunk: Callable[[], AbstractAsyncContextManager[R]],
    make_stream: Callable[[R], AsyncGen[T]],
) -> AsyncGen[T]:
    """Acquire a resource per iteration, stream ``make_stream(resource)``, then release it.

    The resource (``cm_thunk()``, entered when the iteration starts) is released when the
    stream ends, on ``break`` / ``aclose()``, on an error and on cancellation, always after
    the inner stream is closed, and exactly once. A failure to acquire it (or to build the
    inner stream) becomes one ``Err(UNEXPECTED)`` item; nothing is released that was not
    acquired.
    """

    async def _using() -> _Items[T]:
        try:
            cm = cm_thunk()
            resource = await cm.__aenter__()
        except Exception as exc:
            yield unexpected(exc, "async_gen_using")
            return
        try:
            try:
                inner = open_stream(make_stream(resource))
            except Exception as exc:
                yield unexpected(exc, "async_gen_using")
            else:
                try:
                    async for item in inner:
                        yield item
                finally:
                    await close_stream(inner)
        except BaseException as exc:
            if not await cm.__aexit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            await cm.__aexit__(None, None, None)

    return stream(_using)


class _SyncIter(Generic[U]):
    """A sync iterator stepped from worker threads, one step at a time, then closed."""

    def __init__(self, make: Callable[[], Iterable[U]]) -> None:
        self._make = make
        self._it: Iterator[U] | None = None
        self._lock = threading.Lock()
        self.finished = False

    def step(self) -> tuple[bool, U | None]:
        with self._lock:
            if self._it is None:
                self._it = iter(self._make())
            for x in self._it:
                return True, x
            self.finished = True
            return False, None

    def close(self) -> None:
        with self._lock:
            close = getattr(self._it, "close", None)
            if close is not None:
                close()


def lift_sync_gen_with_executor(
    f: Callable[P, Iterable[U]], executor: Executor
) -> Callable[P, AsyncGen[U]]:
    """Lift a blocking sync generator function into a stream that steps it in ``executor``.

    ``lift_sync_gen_with_executor(f, ex)(*args)`` is a stream of ``Ok(x)`` for each ``x`` of
    ``f(*args)``; each step runs in the executor, one at a time, so the generator is lazy and
    never runs ahead. An exception from ``f`` ends the stream with one ``Err(UNEXPECTED)``.
    Early exit closes the sync generator (its ``finally`` runs in the executor, after any step
    still running there).
    """

    def _bind(*args: P.args, **kwargs: P.kwargs) -> AsyncGen[U]:
        make = functools.partial(f, *args, **kwargs)

        async def _sync_gen() -> _Items[U]:
            loop = asyncio.get_running_loop()
            state: _SyncIter[U] = _SyncIter(make)
            try:
                while True:
                    try:
                        more, x = await loop.run_in_executor(executor, state.step)
                    except Exception as exc:
                        state.finished = True
                        yield unexpected(exc, "lift_sync_gen_with_executor")
                        return
                    if not more:
                        return
                    yield Ok(x)  # type: ignore[arg-type]
            finally:
                if not state.finished:
                    await loop.run_in_executor(executor, state.close)

        return stream(_sync_gen)

    return _bind
