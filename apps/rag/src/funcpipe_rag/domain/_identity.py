"""Stable identity: source keys, document versions, chunk hashes and point ids.

Laws: the same input gives the same key, version and ids on any machine; volatile metadata
(mtime, absolute paths, case of a URL's scheme or host) never feeds them.
"""

from __future__ import annotations

import hashlib
import posixpath
import uuid
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from ._types import EmbedderId

NAMESPACE = uuid.UUID("6f1c2d2e-8a4b-5b3c-9d7e-2f0a1b3c4d5e")
"""The UUID5 namespace of every funcpipe-rag point id."""

_DEFAULT_PORTS = {"http": 80, "https": 443}


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def doc_version(normalised_text: str) -> str:
    """The version of a document: sha256 of its normalised text."""
    return sha256_hex(normalised_text)


def chunk_hash(text: str) -> str:
    """The content hash of one chunk's text."""
    return sha256_hex(text)


def is_url(s: str) -> bool:
    """True for an ``http://`` or ``https://`` URL (scheme in any case); anything else is a
    path."""
    return s[:8].lower().startswith(("http://", "https://"))


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4: ``/a/./b/../c`` -> ``/a/c`` (a trailing ``/`` is kept).

    Laws: idempotent; the result has no ``.`` or ``..`` segment."""
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
            continue
        if seg == "..":
            if len(out) > 1 or (out and out[0] != ""):
                out.pop()
            if last:
                out.append("")
            continue
        out.append(seg)
    result = "/".join(out)
    if path.startswith("/") and not result.startswith("/"):
        result = "/" + result
    return result


def normalise_url(url: str) -> str:
    """Lower-case scheme and host, drop the default port, the fragment and user info, remove
    dot segments; keep the path's case and the query.

    Laws: idempotent; ``HTTP://Example.COM:80/a/../b#x`` and ``http://example.com/b`` give the
    same key."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    try:
        port = parts.port
    except ValueError:
        port = None
        tail = parts.netloc.rsplit("@", 1)[-1]
        host = tail.lower()
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    path = remove_dot_segments(parts.path) if parts.path else "/"
    return urlunsplit((scheme, netloc, path or "/", parts.query, ""))


def path_key(relative_path: str) -> str:
    """A source key from a ``/``-separated path relative to the key base, without ``.``
    parts. A backslash is a character of a name (POSIX), never a separator: ``x\\y.md`` and
    ``x/y.md`` are two files with two keys."""
    norm = posixpath.normpath(relative_path)
    return "" if norm == "." else norm


def escape_name(name: str) -> str:
    """A lossless, valid-UTF-8 key text for an OS name: ``%`` and each byte that was not
    UTF-8 (a surrogateescape surrogate, or any other lone surrogate's bytes) become ``%XX``.

    Law: ``unescape_name(escape_name(s)) == s`` for every name the OS gives (surrogateescape);
    a name without ``%`` and surrogates is kept as it is.
    """
    if "%" not in name and name.isascii():
        return name
    out: list[str] = []
    for ch in name:
        o = ord(ch)
        if ch == "%":
            out.append("%25")
        elif 0xDC80 <= o <= 0xDCFF:
            out.append(f"%{o - 0xDC00:02X}")
        elif 0xD800 <= o <= 0xDFFF:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
        else:
            out.append(ch)
    return "".join(out)


def unescape_name(key: str) -> str:
    """The OS name (surrogateescape-decoded) of a key made by ``escape_name``."""
    if "%" not in key:
        return key
    raw = key.encode("utf-8", "surrogatepass")
    data = bytearray()
    i = 0
    while i < len(raw):
        if raw[i] == 0x25 and i + 3 <= len(raw):
            data.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            data.append(raw[i])
            i += 1
    return bytes(data).decode("utf-8", "surrogateescape")


def key_is_under(key: str, root_key: str) -> bool:
    """True when source ``key`` lies under ``root_key`` (a directory key, a file key or URL)."""
    if root_key in ("", "."):  # the key base itself: every key relative to it
        return not is_url(key) and not key.startswith(("/", "~"))
    if key == root_key:
        return True
    base = key.split("#", 1)[0]
    return base == root_key or base.startswith(root_key.rstrip("/") + "/")


def point_id(source: str, content_hash: str, embedder: EmbedderId, occurrence: int = 0) -> str:
    """The point id of a chunk: UUID5 of source key, chunk hash, embedder and occurrence."""
    name = f"chunk\x00{source}\x00{content_hash}\x00{embedder.model}\x00{embedder.dim}"
    if occurrence:
        name += f"\x00{occurrence}"
    return str(uuid.uuid5(NAMESPACE, name))


def commit_id(source: str) -> str:
    """The id of a source's commit marker point."""
    return str(uuid.uuid5(NAMESPACE, f"commit\x00{source}"))


def chunk_set_hash(ids: Iterable[str]) -> str:
    """sha256 of the sorted chunk ids of one source version."""
    return sha256_hex("\n".join(sorted(ids)))
