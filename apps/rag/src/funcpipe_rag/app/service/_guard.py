"""What a server's ingest may read: paths under allowed roots, URLs to public addresses only.

Codes: ``PERMISSION_DENIED`` for a path outside every allowed root or a URL whose host is (or
resolves to) an address that is not public (``_addresses.is_public``: loopback, private,
link-local, and IPv6 forms embedding such an IPv4); ``INVALID_INPUT`` for a URL that is not
http(s), has no host or does not parse, and for more than ``max_urls`` URLs in one request;
``NETWORK`` when a host does not resolve; ``TIMEOUT`` when resolving a request's hosts takes
over ``dns_budget_s``. Every check runs before anything is read; host names are resolved off
the event loop (a small pool of its own, so a slow resolver never blocks the server). Messages
never echo a URL's credentials.

The check at request time is advice; the boundary is where bytes move: files are opened under
the roots (``confine``) and every HTTP request, redirects included, connects to the address
its own check resolved (``transport``, see ``_pinned``), so DNS rebinding between the check and
the connection cannot happen.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from funcpipe.adapters.runtime import run_blocking
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from funcpipe_rag.adapters import Confine
from funcpipe_rag.domain import Stage, is_url

from ._addresses import IPAddress, is_public, parse_ip

if TYPE_CHECKING:
    import httpx

Resolver = Callable[[str], list[str]]
"""Host name -> its addresses (the seam tests and the transport share)."""

MAX_URLS = 32
DNS_BUDGET_S = 5.0


def resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


@cache
def _dns_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(8, thread_name_prefix="funcpipe-dns")


def shown_url(url: str) -> str:
    """``url`` for a message: no user info, at most 200 characters."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        text = parts._replace(netloc=netloc).geturl()
    except ValueError:
        text = url.rpartition("@")[2] if "@" in url else url
    return text if len(text) <= 200 else text[:199] + "…"


def _deny(msg: str, code: str = codes.PERMISSION_DENIED) -> Err[ErrInfo]:
    return Err(ErrInfo(code, msg, stage=Stage.USAGE))


def url_host(url: str) -> Result[str, ErrInfo]:
    """The host of an http(s) URL, or ``INVALID_INPUT`` (unparseable, other scheme, no host,
    a bad port)."""
    try:
        parts = urlsplit(url)
        _ = parts.port
        host = parts.hostname
    except ValueError as exc:
        return _deny(f"not a valid URL ({exc}): {shown_url(url)}", codes.INVALID_INPUT)
    if parts.scheme.lower() not in ("http", "https") or not host:
        return _deny(f"not an http(s) URL with a host: {shown_url(url)}", codes.INVALID_INPUT)
    return Ok(host)


def addresses_ok(
    url: str, host: str, addrs: Sequence[str], public: Callable[[IPAddress], bool] = is_public
) -> Result[list[IPAddress], ErrInfo]:
    """The parsed addresses when every one is allowed by ``public``, else the refusal."""
    ips = [ip for ip in (parse_ip(a) for a in addrs) if ip is not None]
    if not ips:
        return _deny(f"cannot resolve {host}: no address", codes.NETWORK)
    for ip in ips:
        if not public(ip):
            return _deny(
                f"{shown_url(url)}: {host} resolves to the non-public address {ip}; "
                "the server fetches public URLs only (start it with --allow-private-urls)"
            )
    return Ok(ips)


def check_url(
    url: str, *, allow_private: bool, resolver: Resolver = resolve
) -> Result[str, ErrInfo]:
    """``Ok(url)`` when it is http(s) and (unless ``allow_private``) every address of its host
    is public; a name that resolves to loopback is refused like ``127.0.0.1``. Blocking."""
    host = url_host(url)
    if isinstance(host, Err):
        return host
    if allow_private:
        return Ok(url)
    try:
        addrs = [str(ip)] if (ip := parse_ip(host.value)) else resolver(host.value)
    except (OSError, UnicodeError) as exc:
        return _deny(f"cannot resolve {host.value}: {exc}", codes.NETWORK)
    got = addresses_ok(url, host.value, addrs)
    return Ok(url) if isinstance(got, Ok) else Err(got.error)


def check_path(path: str, roots: Sequence[Path]) -> Result[str, ErrInfo]:
    """``Ok(path)`` when its real path (symlinks resolved) lies under one of ``roots``."""
    if not roots:
        return _deny(
            f"{path}: this server reads no paths (start it with --allow-root DIR to allow some)"
        )
    try:
        real = Path(os.path.realpath(path))
    except (OSError, ValueError) as exc:
        return _deny(f"{path}: not a usable path ({exc})", codes.INVALID_INPUT)
    for root in roots:
        r = Path(os.path.realpath(root))
        if real == r or r in real.parents:
            return Ok(path)
    return _deny(f"{path} is not under an allowed root (--allow-root)")


@dataclass(frozen=True, slots=True)
class Guard:
    """The server's read policy, fixed at start. ``public`` decides which resolved addresses
    a URL may reach (``is_public``; a test or a deployment may narrow or widen it)."""

    roots: tuple[Path, ...] = ()
    allow_private_urls: bool = False
    resolver: Resolver = resolve
    public: Callable[[IPAddress], bool] = is_public
    max_urls: int = MAX_URLS
    dns_budget_s: float = DNS_BUDGET_S

    def confine(self) -> Confine:
        """Where a job may open files: under the allowed roots only (``adapters._confine``)."""
        return Confine.of(self.roots)

    def check(self, items: Sequence[str]) -> Result[list[str], ErrInfo]:
        """Every item allowed, or the first refusal (blocking: resolves on this thread)."""
        out: list[str] = []
        for item in items:
            got = (
                check_url(item, allow_private=self.allow_private_urls, resolver=self.resolver)
                if is_url(item)
                else check_path(item, self.roots)
            )
            if isinstance(got, Err):
                return got
            out.append(got.value)
        return Ok(out)

    async def lookup(self, url: str) -> Result[list[IPAddress], ErrInfo]:
        """The checked addresses of ``url``'s host, resolved off the loop within the budget
        (with private URLs allowed, whatever it resolves to)."""
        host = url_host(url)
        if isinstance(host, Err):
            return host
        h = host.value
        literal = parse_ip(h)
        if literal is not None:
            addrs = [str(literal)]
        else:
            loop = asyncio.get_running_loop()
            try:
                addrs = await asyncio.wait_for(
                    loop.run_in_executor(_dns_pool(), self.resolver, h), self.dns_budget_s
                )
            except TimeoutError:
                return _deny(f"resolving {h} took over {self.dns_budget_s:g} s", codes.TIMEOUT)
            except (OSError, UnicodeError) as exc:
                return _deny(f"cannot resolve {h}: {exc}", codes.NETWORK)
        public = (lambda _ip: True) if self.allow_private_urls else self.public
        return addresses_ok(url, h, addrs, public)

    async def admit(self, items: Sequence[str]) -> Result[list[str], ErrInfo]:
        """``check`` without blocking the loop: at most ``max_urls`` URLs, their hosts resolved
        together within ``dns_budget_s`` overall, paths checked in one hop off the loop."""
        urls = [i for i in items if is_url(i)]
        if len(urls) > self.max_urls:
            msg = f"at most {self.max_urls} URLs per ingest request (got {len(urls)})"
            return _deny(msg, codes.INVALID_INPUT)
        for u in urls:
            host = url_host(u)
            if isinstance(host, Err):
                return host
        paths = [i for i in items if not is_url(i)]
        if paths:
            checked = await run_blocking(lambda: self.check(paths))
            if isinstance(checked, Err):
                return checked
        try:
            looked = await asyncio.wait_for(
                asyncio.gather(*(self.lookup(u) for u in dict.fromkeys(urls))),
                self.dns_budget_s + 0.5,
            )
        except TimeoutError:
            msg = f"resolving the request's hosts took over {self.dns_budget_s:g} s"
            return _deny(msg, codes.TIMEOUT)
        for got in looked:
            if isinstance(got, Err):
                return Err(got.error)
        return Ok(list(items))

    def transport(self) -> httpx.AsyncBaseTransport:
        """An httpx transport that connects every request (redirects included) to the
        address its own ``lookup`` checked (``_pinned``)."""
        from ._pinned import PinnedTransport  # loaded only when URLs are fetched

        return PinnedTransport(self.lookup)
