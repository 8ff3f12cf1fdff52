"""What a server's ingest may read: paths under allowed roots, URLs to public addresses only.

Codes: ``PERMISSION_DENIED`` for a path outside every allowed root or a URL whose host is (or
resolves to) a loopback, private, link-local or otherwise non-global address;
``INVALID_INPUT`` for a URL that is not http(s) or has no host; ``NETWORK`` when the host does
not resolve. Every check runs before anything is read.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from funcpipe.adapters.runtime import run_blocking
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from funcpipe_rag.adapters import Confine
from funcpipe_rag.domain import is_url

if TYPE_CHECKING:
    import httpx

Resolver = Callable[[str], list[str]]
"""Host name -> its addresses (the seam tests and the request hook share)."""


def resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


def _deny(msg: str, code: str = codes.PERMISSION_DENIED) -> Err[ErrInfo]:
    return Err(ErrInfo(code, msg, stage="usage"))


def check_url(
    url: str, *, allow_private: bool, resolver: Resolver = resolve
) -> Result[str, ErrInfo]:
    """``Ok(url)`` when it is http(s) and (unless ``allow_private``) every address of its host
    is global; a name that resolves to loopback is refused like ``127.0.0.1``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return _deny(f"not an http(s) URL with a host: {url}", codes.INVALID_INPUT)
    if allow_private:
        return Ok(url)
    host = parts.hostname
    try:
        addrs = resolver(host)
    except (OSError, UnicodeError) as exc:
        return _deny(f"cannot resolve {host}: {exc}", codes.NETWORK)
    for addr in addrs:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
        if not ip.is_global:
            return _deny(
                f"{url}: {host} resolves to the non-public address {ip}; "
                "the server fetches public URLs only (start it with --allow-private-urls)"
            )
    return Ok(url)


def check_path(path: str, roots: Sequence[Path]) -> Result[str, ErrInfo]:
    """``Ok(path)`` when its real path (symlinks resolved) lies under one of ``roots``."""
    if not roots:
        return _deny(
            f"{path}: this server reads no paths (start it with --allow-root DIR to allow some)"
        )
    real = Path(os.path.realpath(path))
    for root in roots:
        r = Path(os.path.realpath(root))
        if real == r or r in real.parents:
            return Ok(path)
    return _deny(f"{path} is not under an allowed root (--allow-root)")


@dataclass(frozen=True, slots=True)
class Guard:
    """The server's read policy, fixed at start."""

    roots: tuple[Path, ...] = ()
    allow_private_urls: bool = False
    resolver: Resolver = resolve

    def confine(self) -> Confine:
        """Where a job may open files: under the allowed roots only (``adapters._confine``)."""
        return Confine.of(self.roots)

    def check(self, items: Sequence[str]) -> Result[list[str], ErrInfo]:
        """Every item allowed, or the first refusal (nothing is read then)."""
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

    def request_hook(self) -> Callable[[httpx.Request], Awaitable[None]] | None:
        """An httpx request hook applying the URL rule to every request, redirects included
        (raises ``httpx.RequestError``, a per-source network error); None with private URLs."""
        if self.allow_private_urls:
            return None

        import httpx  # loaded only when URLs are fetched (start-up time)

        async def _hook(request: httpx.Request) -> None:
            url = str(request.url)
            got = await run_blocking(
                lambda: check_url(url, allow_private=False, resolver=self.resolver)
            )
            if isinstance(got, Err):
                raise httpx.ConnectError(got.error.msg, request=request)

        return _hook
