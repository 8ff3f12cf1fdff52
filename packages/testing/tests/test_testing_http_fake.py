"""FakeHttpClient: an HttpPort driven by FaultSchedule and per-attempt HTTP statuses."""

from __future__ import annotations

import asyncio

import pytest
from funcpipe.async_plan import async_with_resilience
from funcpipe.policies import RetryPolicy
from funcpipe.ports import HttpPort
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.testing import (
    FakeHttpClient,
    FaultSchedule,
    LoopClock,
    make_test_resilience_env,
    run_virtual,
)
from hypothesis import given
from hypothesis import strategies as st

URL = "https://docs.example/a"
PAGES = {URL: 'one\n{"two": 2}', "https://docs.example/j": '{"k": [1]}'}


def _port(http: FakeHttpClient) -> HttpPort:
    return http  # mypy: the fake implements the port


def test_pages_text_json_and_lines() -> None:
    http = _port(FakeHttpClient(PAGES))

    async def main() -> list[object]:
        lines = [r async for r in http.stream_lines(URL)()]
        return [await http.get_text(URL)(), await http.get_json("https://docs.example/j")(), lines]

    text, js, lines = run_virtual(main)
    assert text == Ok(PAGES[URL])
    assert js == Ok({"k": [1]})
    assert lines == [Ok("one"), Ok('{"two": 2}')]


def test_429_with_retry_after_is_retried_after_that_wait_on_one_clock() -> None:
    http = FakeHttpClient(PAGES, statuses={URL: [429, 429]}, retry_after_s=7.0)
    env = make_test_resilience_env()
    plan = async_with_resilience(http.get_text(URL), RetryPolicy(max_attempts=3), env=env)

    async def main() -> tuple[Result[str, ErrInfo], float]:
        return await plan(), asyncio.get_running_loop().time()

    out, now = run_virtual(main)
    assert out == Ok(PAGES[URL])
    assert http.attempts[URL] == 3
    assert isinstance(env.clock, LoopClock)
    assert env.clock.sleeps == [7.0, 7.0]
    assert now == 14.0


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, codes.INVALID_INPUT), (401, codes.AUTH), (404, codes.NOT_FOUND), (403, codes.AUTH)],
)
def test_permanent_statuses_are_not_retried(status: int, code: str) -> None:
    http = FakeHttpClient(PAGES, statuses={URL: [status]})
    plan = async_with_resilience(http.get_text(URL), RetryPolicy(max_attempts=4))
    out = run_virtual(plan)
    assert isinstance(out, Err)
    assert (out.error.code, out.error.path, out.error.ctx["status"]) == (code, (URL,), status)
    assert http.attempts[URL] == 1


def test_5xx_is_transient_and_a_missing_page_is_not_found() -> None:
    http = FakeHttpClient(PAGES, statuses={URL: [503]})
    first, second = run_virtual(http.get_text(URL)), run_virtual(http.get_text(URL))
    assert isinstance(first, Err)
    assert first.error.code == codes.TRANSIENT
    assert second == Ok(PAGES[URL])
    missing = run_virtual(http.get_json("https://docs.example/none"))
    assert isinstance(missing, Err)
    assert missing.error.code == codes.NOT_FOUND


def test_schedule_faults_apply_and_the_port_never_raises() -> None:
    schedule = FaultSchedule({URL: ["exception", "transient", "timeout", "ok"]})
    http = FakeHttpClient(PAGES, schedule=schedule)
    outs = [run_virtual(http.get_text(URL)) for _ in range(4)]
    got = [r.error.code if isinstance(r, Err) else "ok" for r in outs]
    assert got == [codes.UNEXPECTED, codes.TRANSIENT, codes.TIMEOUT, "ok"]
    assert all(r.error.path == (URL,) for r in outs if isinstance(r, Err))
    assert http.attempt_trace() == [(URL, k) for k in ["exception", "transient", "timeout", "ok"]]


@given(st.lists(st.integers(100, 599), max_size=4), st.sampled_from(["text", "json", "lines"]))
def test_every_status_gives_ok_or_a_keyed_err(statuses: list[int], method: str) -> None:
    """Law: for any statuses, every call ends in ``Ok`` (2xx) or an ``Err`` keyed by its URL."""
    http = FakeHttpClient(PAGES, statuses={URL: statuses})

    async def main() -> list[Result[object, ErrInfo]]:
        out: list[Result[object, ErrInfo]] = []
        for _ in range(len(statuses) + 1):
            if method == "lines":
                out += [r async for r in http.stream_lines(URL)()]
            elif method == "json":
                out.append(await http.get_json(URL)())
            else:
                out.append(await http.get_text(URL)())
        return out

    for r in run_virtual(main):
        if isinstance(r, Err):
            assert r.error.path == (URL,)


def test_too_large_bodies_and_lines() -> None:
    http = FakeHttpClient(PAGES)
    big = run_virtual(http.get_text(URL, max_bytes=3))
    assert isinstance(big, Err)
    assert big.error.code == codes.TOO_LARGE

    async def main() -> list[Result[str, ErrInfo]]:
        return [r async for r in http.stream_lines(URL, max_line_bytes=3)()]

    lines = run_virtual(main)
    assert lines[0] == Ok("one")
    assert isinstance(lines[1], Err)
    assert lines[1].error.code == codes.TOO_LARGE


def test_the_document_source_fake_is_the_port() -> None:
    from funcpipe.ports import DocumentSource
    from funcpipe.testing import FakeDocumentSource

    source: DocumentSource[str] = FakeDocumentSource(["a", "b"])  # mypy: it fits the port

    async def main() -> list[Result[str, ErrInfo]]:
        return [r async for r in source()]

    assert run_virtual(main) == [Ok("a"), Ok("b")]
