"""runtime: stream drivers always close; run_main shuts down in order on signals."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import AsyncIterator

import pytest
from funcpipe.adapters.runtime import (
    blocking_plan,
    collect_stream,
    dedicated_executor,
    drive_stream,
    perform_async,
    run_blocking,
    run_main,
)
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen
from funcpipe.testing import run_virtual
from hypothesis import given
from hypothesis import strategies as st


class Tracked:
    """A stream of ``n`` Ok ints that records how it ended."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n, self.fail_at = n, fail_at
        self.opened = 0
        self.closed = 0

    def gen(self) -> AsyncGen[int]:
        async def _it() -> AsyncIterator[Result[int, ErrInfo]]:
            self.opened += 1
            try:
                for i in range(self.n):
                    if i == self.fail_at:
                        raise RuntimeError("boom")
                    yield Ok(i)
                    await asyncio.sleep(0)
            finally:
                self.closed += 1

        return _it


@given(n=st.integers(0, 20), limit=st.none() | st.integers(0, 25))
def test_collect_stream_takes_prefix_and_closes(n: int, limit: int | None) -> None:
    t = Tracked(n)
    got = run_virtual(lambda: collect_stream(t.gen(), limit=limit))
    expected = list(range(n if limit is None else min(n, limit)))
    assert got == [Ok(i) for i in expected]
    assert t.closed == t.opened  # every opened iterator was closed


def test_collect_stream_closes_on_exception() -> None:
    t = Tracked(5, fail_at=2)
    with pytest.raises(RuntimeError):
        run_virtual(lambda: collect_stream(t.gen()))
    assert (t.opened, t.closed) == (1, 1)


def test_collect_stream_closes_on_cancel() -> None:
    t = Tracked(1000)

    async def main() -> None:
        task = asyncio.ensure_future(collect_stream(t.gen()))
        for _ in range(5):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run_virtual(main)
    assert (t.opened, t.closed) == (1, 1)


def test_drive_stream_counts_and_closes_when_callback_raises() -> None:
    t = Tracked(10)
    seen: list[int] = []

    async def on_item(r: Result[int, ErrInfo]) -> None:
        seen.append(r.unwrap())
        if len(seen) == 3:
            raise ValueError("stop")

    with pytest.raises(ValueError):
        run_virtual(lambda: drive_stream(t.gen(), on_item))
    assert seen == [0, 1, 2]
    assert t.closed == 1
    t2 = Tracked(4)
    assert run_virtual(lambda: drive_stream(t2.gen(), lambda r: None)) == 4
    assert t2.closed == 1


def test_collect_stream_rejects_negative_limit() -> None:
    with pytest.raises(ValueError):
        run_virtual(lambda: collect_stream(Tracked(1).gen(), limit=-1))


@pytest.mark.asyncio
async def test_run_blocking_runs_off_the_loop_thread() -> None:
    ex = dedicated_executor("test-worker")
    try:
        name = await run_blocking(lambda: threading.current_thread().name, executor=ex)
        assert name.startswith("test-worker")
        assert name != threading.current_thread().name
        ok = await perform_async(blocking_plan(lambda: 41 + 1, executor=ex))
        assert ok == Ok(42)
        bad = await perform_async(blocking_plan(lambda: 1 // 0, executor=ex, code=codes.DB_ERROR))
        assert isinstance(bad, Err)
        assert bad.error.code == codes.DB_ERROR
    finally:
        ex.shutdown()


def test_run_main_returns_ok_and_cleans_leftovers() -> None:
    t = Tracked(100)
    leftover_cancelled: list[bool] = []

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            leftover_cancelled.append(True)
            raise

    async def main() -> int:
        bg = asyncio.ensure_future(forever())
        assert not bg.done()
        it = t.gen()()
        await it.__anext__()  # left open on purpose: run_main must close it
        await asyncio.sleep(0)
        return 7

    assert run_main(main) == Ok(7)
    assert leftover_cancelled == [True]
    assert t.closed == 1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_run_main_signal_cancels_main_and_closes_streams(sig: signal.Signals) -> None:
    t = Tracked(10**6)
    released: list[str] = []

    async def main() -> int:
        try:
            async for item in t.gen()():
                if item.unwrap() == 3:
                    os.kill(os.getpid(), sig)
                    await asyncio.Event().wait()  # blocked until the signal cancels us
        finally:
            released.append("connection")
        return 0

    res = run_main(main)
    assert isinstance(res, Err)
    assert res.error.code == codes.CANCELLED
    assert res.error.ctx["signal"] == sig.name
    assert released == ["connection"]
    assert (t.opened, t.closed) == (1, 1)
    # handlers were removed: the default SIGINT handler is back
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_run_main_maps_exception_to_unexpected() -> None:
    async def main() -> None:
        raise KeyError("x")

    res = run_main(main)
    assert isinstance(res, Err)
    assert res.error.code == codes.UNEXPECTED
    assert isinstance(res.error.cause, KeyError)
