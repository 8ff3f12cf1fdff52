"""Law: HttpClient and OpenAIEmbeddings never raise, whatever the input: every failure is an
``Err`` with a taxonomy code (a bad URL -> INVALID_INPUT, and nothing is sent).

A MockTransport answers every request, so no example touches the network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
from funcpipe.adapters.http import HttpClient, OpenAIEmbeddings, check_url, safe_url
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from hypothesis import given
from hypothesis import strategies as st

TAXONOMY = frozenset(v for k, v in vars(codes).items() if k.isupper() and isinstance(v, str))
BAD_URLS = ["http://[::1", "", "http://", "://", "\x00", "http://x:99999", "http://[::1]:x/"]

Handler = Callable[[httpx.Request], httpx.Response]


def _ok(request: httpx.Request) -> httpx.Response:
    if request.method == "POST":
        return httpx.Response(200, json={"data": [{"index": 0, "embedding": [0.5, 0.5]}]})
    return httpx.Response(200, text="line")


def _raises(request: httpx.Request) -> httpx.Response:
    raise RuntimeError("a bug below the adapter")


def _outcomes(url: str, handler: Handler = _ok) -> list[Result[object, ErrInfo]]:
    async def main() -> list[Result[object, ErrInfo]]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            http = HttpClient(client)
            out: list[Result[object, ErrInfo]] = [
                await http.get_text(url)(),
                await http.get_json(url)(),
            ]
            out += [r async for r in http.stream_lines(url)()]
            embedder = OpenAIEmbeddings(client, base_url=url, model="m")
            out.append(await embedder.embed(["a text"])())
            return out

    return asyncio.run(main())


def _assert_taxonomy(results: list[Result[object, ErrInfo]]) -> None:
    for r in results:
        assert isinstance(r, Ok | Err)
        if isinstance(r, Err):
            assert r.error.code in TAXONOMY, r.error


@given(st.one_of(st.text(), st.builds(lambda s: f"http://{s}", st.text())))
def test_no_url_string_makes_an_http_adapter_raise(url: str) -> None:
    _assert_taxonomy(_outcomes(url))
    assert isinstance(safe_url(url), str)


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_bad_url_is_invalid_input_and_nothing_is_sent(url: str) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return _ok(request)

    results = _outcomes(url, handler)
    assert [r.error.code for r in results if isinstance(r, Err)] == [codes.INVALID_INPUT] * 4
    assert sent == []
    assert isinstance(check_url(url), Err)


def test_an_exception_below_the_adapter_is_unexpected_not_raised() -> None:
    results = _outcomes("http://example.invalid/x", _raises)
    assert [r.error.code for r in results if isinstance(r, Err)] == [codes.UNEXPECTED] * 4


def test_check_url_accepts_http_and_https_urls() -> None:
    for url in ["http://h/p", "https://h:8443/p?q=1", "http://[::1]:80/"]:
        assert isinstance(check_url(url), Ok)
    assert isinstance(check_url("ftp://h/p"), Err)
