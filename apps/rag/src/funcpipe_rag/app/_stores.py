"""Opening the configured vector store."""

from __future__ import annotations

from funcpipe.adapters.vectors import VectorStore
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from ._settings import Settings


async def open_store(settings: Settings) -> Result[VectorStore, ErrInfo]:
    """Qdrant server when ``qdrant_url`` is set, else Qdrant Edge under the data dir."""
    if settings.qdrant_url:
        # imported lazily: qdrant_client alone takes seconds to import
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
        return Ok(QdrantStore(client, owns_client=True))
    if settings.qdrant_path:
        return await open_local(str(settings.qdrant_path))
    return await open_edge(settings)


async def open_local(path: str) -> Result[VectorStore, ErrInfo]:
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
    return Ok(QdrantStore(client, owns_client=True))


async def open_edge(settings: Settings) -> Result[VectorStore, ErrInfo]:
    """Qdrant Edge: one shard directory per collection under ``<data dir>/edge``."""
    from funcpipe.adapters.edge import EdgeStore

    try:
        store = EdgeStore(settings.data_dir / "edge")
    except Exception as exc:
        msg = f"cannot open the embedded store under {settings.data_dir}: {exc}"
        return Err(ErrInfo.from_exception(exc, code=codes.DB_ERROR, stage="store", msg=msg))
    return Ok(store)
