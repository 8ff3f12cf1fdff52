"""What an IP address reaches: a pure classification for the URL guard.

An address is public when it is global (``ipaddress``'s ``is_global``) and every IPv4 address
embedded in it is global too: IPv4-mapped ``::ffff:a.b.c.d``, IPv4-translated
``::ffff:0:a.b.c.d``, the deprecated IPv4-compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96`` (and
the local-use ``64:ff9b:1::/48``), 6to4 ``2002::/16`` and Teredo ``2001::/32`` (its server and
its client). Those forms are how a packet to ``::127.0.0.1`` or ``64:ff9b::7f00:1`` can end at
127.0.0.1; they are classified by the address they reach.

Laws: ``is_public(v4) == v4.is_global``; for every IPv4 ``v`` and every embedding form ``f``,
``is_public(f(v))`` implies ``is_public(v)``; an IPv6 address embedding nothing is public iff
it is global. Never raises for an ``IPv4Address`` / ``IPv6Address``.
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv6Address

IPAddress = IPv4Address | IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_COMPATIBLE = ipaddress.ip_network("::/96")


def _low32(ip: IPv6Address) -> IPv4Address:
    return IPv4Address(int(ip) & 0xFFFFFFFF)


def embedded_ipv4(ip: IPv6Address) -> tuple[IPv4Address, ...]:
    """The IPv4 addresses ``ip`` carries (and may deliver to), by the forms above."""
    out: list[IPv4Address] = []
    if ip.ipv4_mapped is not None:
        out.append(ip.ipv4_mapped)
    if ip in _TRANSLATED or ip in _NAT64 or ip in _NAT64_LOCAL:
        out.append(_low32(ip))
    if ip in _COMPATIBLE and int(ip) > 1:  # not :: or ::1 (those are not IPv4 forms)
        out.append(_low32(ip))
    if ip.sixtofour is not None:
        out.append(ip.sixtofour)
    if ip.teredo is not None:
        out.extend(ip.teredo)
    return tuple(out)


def is_public(ip: IPAddress) -> bool:
    """Whether ``ip`` reaches only the public internet (see the module's rule)."""
    if not ip.is_global:
        return False
    if isinstance(ip, IPv6Address):
        return all(v.is_global for v in embedded_ipv4(ip))
    return True


def parse_ip(text: str) -> IPAddress | None:
    """An IP literal (a zone ``%eth0`` and URL brackets dropped), or ``None`` for a name."""
    bare = text.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        return None
