"""The composition root: every store, embedder and cluster the app uses is built here and
nowhere else (settings -> adapters).

Embedded defaults: Qdrant Edge under the data dir and the static embedder (no server, no
network). ``qdrant_url`` switches to a Qdrant server through qdrant-client, ``qdrant_path`` to
its local on-disk mode; ``embed_url`` to an OpenAI-compatible embeddings endpoint. A cluster
(``Cluster``) is opened only when a run asks for one (importing this module never imports Dask).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from funcpipe.adapters.embedders import Embedder as LibEmbedder
from funcpipe.adapters.vectors import VectorStore
from funcpipe.async_plan import AsyncPlan, async_with_retry
from funcpipe.policies import RetryPolicy
from funcpipe.ports import HttpPort
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from funcpipe_rag.adapters import EmbedderPort, StoreIndex
from funcpipe_rag.domain import READ_MARGIN, EmbedderId, Stage
from funcpipe_rag.pipelines import IngestSettings, Remote

from ._cluster import Cluster, dask_missing
from ._settings import Settings
from ._space import FreeBytes, disk_free, room_under

_STATIC: dict[int, EmbedderPort] = {}

PROBE_RETRY = RetryPolicy(max_attempts=3, backoff_base_ms=200, max_backoff_ms=2_000)
"""Learning a remote embedder's dimension (when FUNCPIPE_EMBED_DIM is not set) is retried."""

OPTIMIZE_THRESHOLD = 20_000
"""Unindexed points after which ingest builds the store's ANN index."""


def static_embedder(dim: int = 256) -> EmbedderPort:
    """The offline static embedder, loaded once per process.

    It embeds on one thread of its own (idle between calls, for the life of the process):
    concurrent batches queue there instead of running side by side on the loop's pool. That
    is as fast on this CPU-bound model, and its large temporary arrays then stay in one
    allocator arena: the ingest's peak RSS is ~80 MiB lower and no longer depends on which
    pool threads happened to embed.
    """
    if dim not in _STATIC:
        from funcpipe.adapters.embed import StaticEmbedder
        from funcpipe.adapters.runtime import dedicated_executor

        _STATIC[dim] = EmbedderPort(
            StaticEmbedder(dim=dim, executor=dedicated_executor("funcpipe-embed"))
        )
    return _STATIC[dim]


def _local(settings: Settings) -> bool:
    return not settings.qdrant_url


@dataclass(frozen=True, slots=True)
class Backends:
    index: StoreIndex
    embedder: EmbedderPort
    http: HttpPort | None


def _config_err(msg: str) -> Err[ErrInfo]:
    return Err(ErrInfo(codes.INVALID_INPUT, msg, stage=Stage.CONFIG))


@asynccontextmanager
async def open_backends(
    settings: Settings,
    collection: str,
    *,
    embedder: EmbedderPort | None = None,
    need_http: bool = False,
    free_bytes: FreeBytes = disk_free,
) -> AsyncIterator[Result[Backends, ErrInfo]]:
    """Open the store, the embedder and (when needed) the HTTP client; close all on exit.

    ``embedder`` overrides the configured one (tests, benchmarks). The HTTP client exists
    when ``need_http`` (URL sources) or a remote embedder is configured. A local store is
    opened only with ``READ_MARGIN`` free bytes under its directory (``Err(NO_SPACE)``).
    """
    async with AsyncExitStack() as stack:
        http: HttpPort | None = None
        if need_http or (settings.embed_url and embedder is None):
            # httpx (and the CLI tools it pulls in) load only when HTTP is used.
            import httpx
            from funcpipe.adapters.http import HttpClient, OpenAIEmbeddings

            client = await stack.enter_async_context(httpx.AsyncClient(follow_redirects=True))
            http = HttpClient(client)
        if embedder is not None:
            pass
        elif settings.embed_url:
            if not settings.embed_model:
                yield _config_err("FUNCPIPE_EMBED_URL is set but FUNCPIPE_EMBED_MODEL is not")
                return
            key = settings.embed_api_key.get_secret_value() if settings.embed_api_key else None
            assert http is not None
            remote = OpenAIEmbeddings(
                client,
                base_url=settings.embed_url,
                model=settings.embed_model,
                api_key=key,
                dimensions=settings.embed_dim,
            )
            if not remote.dimension:
                probe = async_with_retry(remote.probe_dimension(), PROBE_RETRY)
                probed = await probe()
                if isinstance(probed, Err):
                    e = probed.error
                    yield Err(
                        ErrInfo(
                            e.code,
                            f"embedder at {remote.url}: {e.msg}",
                            "embed",
                            e.path,
                            e.cause,
                            e.ctx,
                        )
                    )
                    return
            embedder = EmbedderPort(remote)
        else:
            embedder = static_embedder(settings.embed_dim or 256)
        assert embedder is not None
        if _local(settings):
            where = settings.qdrant_path or settings.data_dir
            roomy = room_under(where, free_bytes, READ_MARGIN)(0)
            if isinstance(roomy, Err):
                yield roomy
                return
        opened = await open_store(settings)
        if isinstance(opened, Err):
            yield opened
            return
        store = opened.value
        stack.push_async_callback(_close, store)
        index = StoreIndex(store, collection)
        yield Ok(Backends(index, embedder, http))


async def _close(store: VectorStore) -> None:
    await store.close()()


# -- stores ------------------------------------------------------------------------------------


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
                    stage=Stage.CONFIG,
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
                exc, code=codes.DB_ERROR, stage=Stage.STORE, msg=f"cannot open {path}: {exc}"
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
        return Err(ErrInfo.from_exception(exc, code=codes.DB_ERROR, stage=Stage.STORE, msg=msg))
    return Ok(store)


@asynccontextmanager
async def open_index(
    settings: Settings, collection: str
) -> AsyncIterator[Result[StoreIndex, ErrInfo]]:
    """The configured store bound to ``collection``, closed on exit (no embedder is opened)."""
    opened = await open_store(settings)
    if isinstance(opened, Err):
        yield opened
        return
    store = opened.value
    try:
        yield Ok(StoreIndex(store, collection))
    finally:
        await store.close()()


# -- the embedder of a server's ingest jobs ---------------------------------------------------


BACKGROUND_NICE = 10
"""How much lower an ingest's threads run than the server's (Linux: per-thread nice)."""


def lower_priority() -> None:
    """Lower the calling thread's CPU priority (Linux only; a no-op elsewhere or if refused):
    searches then win the CPU over a running ingest's parsing and embedding."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + BACKGROUND_NICE)


class _Paced:
    """An embedder that rests after each call in proportion to its time, so it uses at most
    ``share`` of its thread (the rest of the CPU is left to searches). Same identity."""

    def __init__(self, inner: LibEmbedder, share: float) -> None:
        self._inner = inner
        self._rest = 1.0 / share - 1.0

    @property
    def model_id(self) -> str:
        return self._inner.model_id

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    def embed(self, texts: Sequence[str]) -> AsyncPlan[list[list[float]]]:
        plan = self._inner.embed(texts)

        async def _run() -> Result[list[list[float]], ErrInfo]:
            t0 = time.perf_counter()
            got = await plan()
            await asyncio.sleep((time.perf_counter() - t0) * self._rest)
            return got

        return _run


async def ingest_embedder(shared: EmbedderPort, share: float) -> EmbedderPort:
    """A second copy of the static model for ingest jobs, on a lower-priority thread of its
    own: a query never queues behind an ingest's batches. Same identity as ``shared``."""
    from funcpipe.adapters.embed import StaticEmbedder
    from funcpipe.adapters.runtime import run_blocking

    pool = ThreadPoolExecutor(1, "funcpipe-ingest-embed", initializer=lower_priority)
    own = StaticEmbedder(dim=shared.identity.dim, executor=pool)
    await run_blocking(own.load)
    port = EmbedderPort(_Paced(own, share) if share < 1 else own)
    assert port.identity == shared.identity
    return port


# -- the embedder a Dask worker's environment names ----------------------------------------------


def embedder_identity(settings: Settings | None, want: EmbedderId) -> EmbedderId | None:
    """The identity a worker configured by ``settings`` embeds with (``None`` settings: the
    static model); the dimension is ``None``-like (0) when an endpoint does not name it."""
    if settings is not None and settings.embed_url:
        return EmbedderId(settings.embed_model or "", settings.embed_dim or 0)
    return static_embedder((settings.embed_dim if settings else None) or want.dim).identity


@asynccontextmanager
async def embedder_session(
    settings: Settings | None, want: EmbedderId
) -> AsyncIterator[EmbedderPort]:
    """The configured embedder for one task: the static model, or the endpoint over one HTTP
    client (opened here, closed on exit: a task runs on an event loop of its own)."""
    if settings is None or not settings.embed_url:
        yield static_embedder(want.dim)
        return
    import httpx
    from funcpipe.adapters.http import OpenAIEmbeddings

    key = settings.embed_api_key.get_secret_value() if settings.embed_api_key else None
    async with httpx.AsyncClient(follow_redirects=True) as client:
        remote = OpenAIEmbeddings(
            client,
            base_url=settings.embed_url,
            model=settings.embed_model or want.model,
            api_key=key,
            dimensions=settings.embed_dim,
        )
        yield EmbedderPort(remote, dim=want.dim)


# -- clusters ----------------------------------------------------------------------------------


@asynccontextmanager
async def remote_for(
    cluster: Cluster, settings: IngestSettings, identity: EmbedderId
) -> AsyncIterator[Result[Remote, ErrInfo]]:
    """The ``Remote`` of a run on ``cluster`` (``open_remote``), or why there is none: the
    extra missing (stage ``config``), the scheduler unreachable (NETWORK, stage ``cluster``)."""
    missing = dask_missing()
    if missing is not None:
        yield Err(missing)
        return
    from funcpipe_rag.adapters._dask import open_remote

    async with open_remote(
        cluster.address, cluster.workers, cluster.timeout_s, settings, identity
    ) as opened:
        yield opened
