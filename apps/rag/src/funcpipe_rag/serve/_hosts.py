"""Which ``Host`` header values a server answers (against DNS rebinding from a browser).

A page whose name an attacker rebinds to 127.0.0.1 is sent by the victim's browser with its
own name in ``Host``; a server without an API key therefore answers only loopback names:
``localhost`` (and ``*.localhost``), ``127.0.0.0/8`` and ``[::1]`` literals, any port, plus
the names given with ``--allow-host``. Laws: ``host_name`` drops the port and lower-cases;
``allowed`` is true for every loopback literal and never for a name not listed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


def host_name(value: str) -> str:
    """A ``Host`` header's name: no port, lower case, IPv6 in brackets."""
    v = value.strip().lower()
    if v.startswith("["):
        return v[: v.find("]") + 1] if "]" in v else v
    return v.rsplit(":", 1)[0] if v.count(":") == 1 else v


def is_loopback_name(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


class HostPolicy:
    """The allowed names (``extra``, as ``--allow-host`` gives them) beside loopback."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self.extra = frozenset(host_name(h) for h in extra)

    def allowed(self, value: str) -> bool:
        name = host_name(value)
        return name in self.extra or is_loopback_name(name)
