"""An httpx transport that connects to the address that was checked (no DNS rebinding).

For every request (httpx sends each redirect hop as a new request, so each is re-checked) it
asks ``lookup`` for the host's checked addresses, then connects to the first of them: the URL
handed to the connection pool names that address, while the ``Host`` header and, for https,
the TLS server name (SNI and certificate check) stay the original host's. A name that answers
a public address to the check and 127.0.0.1 to the connection can therefore never reach
127.0.0.1. A refusal raises ``httpx.ConnectError`` (the HTTP adapter's per-source ``NETWORK``
error) with the guard's message; nothing is sent then.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from funcpipe.result import Err, ErrInfo, Result

from ._addresses import IPAddress

Lookup = Callable[[str], Awaitable[Result[list[IPAddress], ErrInfo]]]


class PinnedTransport(httpx.AsyncBaseTransport):
    """``inner`` (default: a plain ``httpx.AsyncHTTPTransport`` per host name, so a pooled TLS
    connection made for one name is never reused for another on the same address) pinned by
    ``lookup``."""

    def __init__(self, lookup: Lookup, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._lookup = lookup
        self._inner = inner
        self._per_host: dict[str, httpx.AsyncBaseTransport] = {}

    def _for(self, host: str) -> httpx.AsyncBaseTransport:
        if self._inner is not None:
            return self._inner
        if host not in self._per_host:
            self._per_host[host] = httpx.AsyncHTTPTransport()
        return self._per_host[host]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        got = await self._lookup(str(url))
        if isinstance(got, Err):
            raise httpx.ConnectError(got.error.msg, request=request)
        pinned = got.value[0]
        extensions = dict(request.extensions)
        if url.scheme == "https":
            extensions.setdefault("sni_hostname", url.host)
        headers = request.headers.copy()
        headers.setdefault("host", url.netloc.decode("ascii"))
        direct = httpx.Request(
            request.method,
            url.copy_with(host=str(pinned)),
            headers=headers,
            stream=request.stream,
            extensions=extensions,
        )
        return await self._for(url.host).handle_async_request(direct)

    async def aclose(self) -> None:
        for t in [*self._per_host.values(), *([self._inner] if self._inner else [])]:
            await t.aclose()
        self._per_host.clear()
