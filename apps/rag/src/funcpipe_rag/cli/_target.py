"""Where a command runs: the local app, or a running server (``--server``).

A flag the server cannot honour (it names another store, key base or cluster) is a usage
error naming it (exit 2), never silently dropped; a collection (``--collection`` or the one
a ``--spec`` names) other than the server's is one too.
"""

from __future__ import annotations

from collections.abc import Mapping

from funcpipe_rag.app import IngestSettings, Settings, collection_for

from ._client import ServerClient
from ._fail import ok_or_fail, usage_error


def server_for(url: str, local_only: Mapping[str, object]) -> ServerClient:
    """The server at ``url``; exit 2 naming the first local-only flag given."""
    for flag, value in local_only.items():
        if value not in (None, False, (), []):
            usage_error(
                f"{flag} names a local store or runner; the server at {url} uses its own "
                "(drop the flag, or drop --server)"
            )
    return ServerClient(url)


def same_collection(server: ServerClient, settings: Settings, spec: IngestSettings | None) -> None:
    """Exit 2 when the flags name another collection than the one the server serves."""
    if settings.collection is None and spec is None:
        return
    wanted = collection_for(settings, spec)
    served = ok_or_fail(server.collection())
    if wanted != served:
        usage_error(
            f"the server at {server.url} serves collection {served!r}, not {wanted!r} "
            "(start a serve for it, or drop --collection / --spec)"
        )
