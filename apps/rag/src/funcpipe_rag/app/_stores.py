"""Opening the configured vector store, and reading stored vectors back from it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from funcpipe.adapters.vectors import VectorStore
from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from funcpipe_rag.adapters import VectorFetch

from ._settings import Settings

if TYPE_CHECKING:  # imported lazily: qdrant_client alone takes seconds to import
    from funcpipe.adapters.edge import EdgeStore
    from qdrant_client import AsyncQdrantClient


def _store_err(e: ErrInfo, where: str) -> Err[ErrInfo]:
    return Err(ErrInfo(e.code, f"{where}: {e.msg}", "store", e.path, e.cause, e.ctx))


def _qdrant_fetch(client: AsyncQdrantClient) -> VectorFetch:
    def fetch(collection: str, ids: Sequence[str]) -> AsyncPlan[dict[str, list[float]]]:
        async def _run() -> Result[dict[str, list[float]], ErrInfo]:
            try:
                recs = await client.retrieve(
                    collection, ids=list(ids), with_payload=False, with_vectors=True
                )
            except Exception as exc:
                return Err(ErrInfo.from_exception(exc, code=codes.DB_ERROR, stage="store"))
            out: dict[str, list[float]] = {}
            for r in recs:
                raw: object = r.vector
                if isinstance(raw, dict):
                    raw = raw.get("")
                if isinstance(raw, list) and all(isinstance(x, float | int) for x in raw):
                    out[str(r.id)] = [float(x) for x in raw]
            return Ok(out)

        return _run

    return fetch


class OpenedStore:
    """A store plus the way to read its vectors back."""

    def __init__(self, store: VectorStore, fetch: VectorFetch | None) -> None:
        self.store = store
        self.fetch = fetch


async def open_store(settings: Settings) -> Result[OpenedStore, ErrInfo]:
    """Qdrant server when ``qdrant_url`` is set, else Qdrant Edge under the data dir."""
    if settings.qdrant_url:
        from funcpipe.adapters.qdrant import QdrantStore
        from qdrant_client import AsyncQdrantClient

        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        try:
            client = AsyncQdrantClient(url=settings.qdrant_url, api_key=key, timeout=30)
        except Exception as exc:
            return Err(
                ErrInfo.from_exception(
                    exc,
                    code=codes.INVALID_INPUT,
                    stage="config",
                    msg=f"invalid --qdrant-url: {exc}",
                )
            )
        return Ok(OpenedStore(QdrantStore(client, owns_client=True), _qdrant_fetch(client)))
    if settings.qdrant_path:
        return await open_local(str(settings.qdrant_path))
    return await open_edge(settings)


async def open_local(path: str) -> Result[OpenedStore, ErrInfo]:
    """qdrant-client's local on-disk mode (``":memory:"`` for an in-memory store)."""
    from funcpipe.adapters.qdrant import QdrantStore
    from qdrant_client import AsyncQdrantClient

    try:
        client = (
            AsyncQdrantClient(location=path) if path == ":memory:" else AsyncQdrantClient(path=path)
        )
    except Exception as exc:
        return Err(
            ErrInfo.from_exception(
                exc, code=codes.DB_ERROR, stage="store", msg=f"cannot open {path}: {exc}"
            )
        )
    return Ok(OpenedStore(QdrantStore(client, owns_client=True), _qdrant_fetch(client)))


def _edge_fetch(store: EdgeStore) -> VectorFetch:
    # EdgeStore has no public way to read vectors back yet; this uses its worker thread and
    # shard accessor (TODO: switch to a public ``retrieve(..., with_vectors=True)``).
    def fetch(collection: str, ids: Sequence[str]) -> AsyncPlan[dict[str, list[float]]]:
        wanted: list[int | uuid.UUID | str] = list(ids)

        def _read() -> dict[str, list[float]]:
            recs: list[Any] = store._shard(collection).retrieve(wanted, False, True)
            out: dict[str, list[float]] = {}
            for r in recs:
                raw: object = r.vector
                if isinstance(raw, dict):
                    raw = raw.get("")
                if isinstance(raw, list):
                    out[str(r.id)] = [float(x) for x in raw]
            return out

        async def _run() -> Result[dict[str, list[float]], ErrInfo]:
            return await store._call("retrieve", collection, _read)

        return _run

    return fetch


async def open_edge(settings: Settings) -> Result[OpenedStore, ErrInfo]:
    """Qdrant Edge: one shard directory per collection under ``<data dir>/edge``."""
    from funcpipe.adapters.edge import EdgeStore

    try:
        store = EdgeStore(settings.data_dir / "edge")
    except Exception as exc:
        msg = f"cannot open the embedded store under {settings.data_dir}: {exc}"
        return Err(ErrInfo.from_exception(exc, code=codes.DB_ERROR, stage="store", msg=msg))
    return Ok(OpenedStore(store, _edge_fetch(store)))
