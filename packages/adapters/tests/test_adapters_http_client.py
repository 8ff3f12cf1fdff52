"""HttpClient and the HTTP error mapping, with real httpx against a real loopback server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from funcpipe.adapters.http import (
    HttpClient,
    code_for_status,
    parse_retry_after,
    safe_url,
    server_error,
)
from funcpipe.adapters.runtime import collect_stream, perform_async
from funcpipe.result import Err, Ok, codes
from hypothesis import given
from hypothesis import strategies as st

ROUTES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/json": (200, {"Content-Type": "application/json"}, b'{"a": [1, 2]}'),
    "/badjson": (200, {}, b"{not json"),
    "/text": (200, {"Content-Type": "text/plain; charset=utf-8"}, "héllo".encode()),
    "/latin": (200, {"Content-Type": "text/plain"}, "café".encode("latin-1")),
    "/big": (200, {}, b"x" * 5000),
    "/lines": (200, {}, b"one\r\ntwo\n" + b"z" * 3000 + b"\n\xff\nlast"),
    "/missing": (404, {}, b'{"detail": "no such doc"}'),
    "/limited": (429, {"Retry-After": "3"}, b'{"error": "slow down"}'),
    "/down": (503, {}, b"upstream unavailable"),
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        status, headers, body = ROUTES.get(self.path, (404, {}, b"nope"))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.asyncio
async def test_get_json_text_and_errors(base: str) -> None:
    async with httpx.AsyncClient() as client:
        http = HttpClient(client)
        assert await perform_async(http.get_json(base + "/json")) == Ok({"a": [1, 2]})
        assert await perform_async(http.get_text(base + "/text")) == Ok("héllo")
        expected = {
            "/badjson": codes.SERVICE_SPECIFIC,
            "/big": codes.TOO_LARGE,
            "/latin": codes.DECODE_ERROR,
            "/missing": codes.NOT_FOUND,
            "/limited": codes.RATE_LIMIT,
            "/down": codes.TRANSIENT,
        }
        for path, code in expected.items():
            plan = (
                http.get_json(base + path, max_bytes=4096)
                if path == "/badjson"
                else http.get_text(base + path, max_bytes=4096)
            )
            res = await perform_async(plan)
            assert isinstance(res, Err), path
            assert res.error.code == code, path
        res = await perform_async(http.get_text(base + "/limited"))
        assert isinstance(res, Err)
        assert res.error.ctx["retry_after_s"] == 3.0
        assert res.error.ctx["server_message"] == "slow down"
        res = await perform_async(http.get_text(base + "/missing"))
        assert isinstance(res, Err)
        assert res.error.ctx["server_message"] == "no such doc"
        assert res.error.ctx["status"] == 404


@pytest.mark.asyncio
async def test_unreachable_and_invalid_urls() -> None:
    async with httpx.AsyncClient() as client:
        http = HttpClient(client)
        res = await perform_async(http.get_text(f"http://127.0.0.1:{_closed_port()}/x"))
        assert isinstance(res, Err)
        assert res.error.code == codes.NETWORK
        res = await perform_async(http.get_text("ftp://example.invalid/x"))
        assert isinstance(res, Err)
        assert res.error.code == codes.INVALID_INPUT


@pytest.mark.asyncio
async def test_stream_lines_per_line_errors_flow_on(base: str) -> None:
    async with httpx.AsyncClient() as client:
        items = await collect_stream(
            HttpClient(client).stream_lines(base + "/lines", max_line_bytes=1000)
        )
    assert items[:2] == [Ok("one"), Ok("two")]
    codes_seen = [r.error.code if isinstance(r, Err) else None for r in items[2:4]]
    assert codes_seen == [codes.TOO_LARGE, codes.DECODE_ERROR]
    assert items[4:] == [Ok("last")]


@pytest.mark.asyncio
async def test_stream_lines_releases_connection_on_early_exit(base: str) -> None:
    # One connection only: if the early-closed stream kept its response open, the next
    # request could not get a connection and would fail with a pool timeout.
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(5.0, pool=1.0)) as client:
        http = HttpClient(client)
        for _ in range(3):
            items = await collect_stream(http.stream_lines(base + "/lines"), limit=1)
            assert items == [Ok("one")]
        assert await perform_async(http.get_json(base + "/json")) == Ok({"a": [1, 2]})


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", date) == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", date) == 0.0


@given(secs=st.integers(0, 10**6))
def test_retry_after_seconds_roundtrip(secs: int) -> None:
    assert parse_retry_after(str(secs)) == float(secs)


def test_error_shapes_and_codes() -> None:
    assert server_error(b'{"error": {"message": "m", "type": "t", "code": "c"}}') == ("m", "c")
    assert server_error(b'{"error": {"message": "q", "type": "insufficient_quota"}}') == (
        "q",
        "insufficient_quota",
    )
    assert server_error(b'{"error": "plain"}') == ("plain", None)
    assert server_error(b'{"detail": [{"loc": ["body"], "msg": "bad"}]}')[0].startswith("[{")
    assert server_error(b'{"message": "msg"}') == ("msg", None)
    assert server_error(b"<html>oops</html>") == ("", None)  # markup is no message
    assert server_error(b"line one\n  line two") == ("line one line two", None)
    table = {
        429: codes.RATE_LIMIT,
        401: codes.AUTH,
        403: codes.AUTH,
        500: codes.TRANSIENT,
        503: codes.TRANSIENT,
        400: codes.INVALID_INPUT,
        413: codes.INVALID_INPUT,
        422: codes.INVALID_INPUT,
        404: codes.NOT_FOUND,
        418: codes.SERVICE_SPECIFIC,
    }
    for status, code in table.items():
        assert code_for_status(status) == code
    assert code_for_status(429, "insufficient_quota") == codes.QUOTA_EXHAUSTED


def test_safe_url_hides_credentials() -> None:
    u = safe_url("https://user:pw@host:8443/v1/x?api_key=sekret&q=1")
    assert "sekret" not in u
    assert "pw" not in u
    assert u == "https://host:8443/v1/x?api_key=REDACTED&q=1"
    assert json.dumps(u)  # plain str
