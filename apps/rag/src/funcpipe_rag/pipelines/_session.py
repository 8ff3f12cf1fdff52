"""One run's context: what the stages read (``RunConfig``) and its one stateful handle on the
store (``StoreSession``)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from funcpipe.async_plan import AsyncPlan, async_pure
from funcpipe.policies import ResilienceEnv
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from funcpipe_rag.domain import (
    Bm25Params,
    ChunkRecord,
    CollectionInfo,
    CollectionStamp,
    CommitRecord,
    EmbeddedChunk,
    Embedder,
    IndexQuery,
    Room,
    SearchHit,
    Stage,
    StoredRecord,
    Vector,
    VectorIndex,
)

from ._settings import IngestSettings, Retrying


@dataclass(frozen=True, slots=True)
class Opened:
    """The store to use, its commit markers by source, whether the collection does not exist
    yet (``fresh``: nothing to read; the first write creates it) and whether it is stamped."""

    index: VectorIndex
    commits: Mapping[str, CommitRecord]
    fresh: bool
    stamped: bool


@dataclass(frozen=True, slots=True)
class RunConfig:
    """The run's immutable context, read by the stages: the embedder, the typed settings,
    the dry-run flag, the stamp a new collection gets, the disk check and the env that drives
    retries. ``embed_calls`` / ``store_calls`` apply each policy once, per request."""

    embedder: Embedder
    settings: IngestSettings
    dry_run: bool = False
    stamp: CollectionStamp | None = None
    room: Room | None = None
    env: ResilienceEnv | None = None
    embed_concurrency: int = 1

    @property
    def spec_hash(self) -> str:
        return self.settings.spec_hash

    @property
    def bm25(self) -> Bm25Params | None:
        """The BM25 parameters when the collection is sparse or hybrid."""
        search = self.settings.search
        return search.bm25 if search.sparse else None

    @property
    def embed_calls(self) -> Retrying:
        return self.settings.embed_calls(self.env)

    @property
    def store_calls(self) -> Retrying:
        return self.settings.store_calls(self.env)


class StoreSession:
    """The run's one stateful handle on the store (owned by the run, given only to the stages
    that touch the store: read, plan, write).

    ``opening``: when set, the store is still being opened (and its commit markers read)
    while the sources are read; ``ready()`` waits for it and installs ``index`` and
    ``commits``. ``writable()`` creates and stamps the collection once, before the first
    write; its failure is the same ``Err`` for every caller (the write stage halts the run).
    """

    def __init__(
        self,
        index: VectorIndex,
        opening: asyncio.Future[Result[Opened, ErrInfo]] | None = None,
    ) -> None:
        self.index = index
        self.commits: Mapping[str, CommitRecord] = {}
        self.fresh = False
        self.stamped = True
        self._opening = opening
        self._writable: asyncio.Future[Result[None, ErrInfo]] | None = None

    async def ready(self) -> Result[None, ErrInfo]:
        """Ok once the store is open; the opening's Err otherwise (every time)."""
        opening = self._opening
        if opening is None:
            return Ok(None)
        got = await asyncio.shield(opening)  # a cancelled waiter never cancels the opening
        if isinstance(got, Err):
            return got
        if self._opening is opening:
            o = got.value
            self.index, self.commits = o.index, o.commits
            self.fresh, self.stamped = o.fresh, o.stamped
            self._opening = None
        return Ok(None)

    async def writable(self, cfg: RunConfig) -> Result[None, ErrInfo]:
        """Before the first write (once): create the collection if missing, stamp it if not
        stamped."""
        if self._writable is None:
            self._writable = asyncio.ensure_future(self._make_writable(cfg))
        return await asyncio.shield(self._writable)

    async def _make_writable(self, cfg: RunConfig) -> Result[None, ErrInfo]:
        dim = cfg.embedder.identity.dim
        if cfg.room is not None:
            roomy = cfg.room(0)
            if isinstance(roomy, Err):
                return roomy
        ensured = await cfg.store_calls(self.index.ensure(dim, cfg.bm25 is not None))()
        if isinstance(ensured, Err):
            e = ensured.error
            if e.code == codes.DIMENSION_MISMATCH:
                msg = (
                    f"{e.msg}; the embedder {cfg.embedder.identity} makes {dim}-d vectors: "
                    "use another --collection (or the embedder it was written with)"
                )
                return Err(ErrInfo(e.code, msg, Stage.CONFIG, e.path, e.cause, e.ctx))
            msg = f"cannot create the collection: {e.msg}"
            return Err(ErrInfo(e.code, msg, Stage.STORE, e.path, e.cause, e.ctx))
        if not self.stamped and cfg.stamp is not None:
            st = await cfg.store_calls(self.index.write_stamp(cfg.stamp))()
            if isinstance(st, Err):
                e = st.error
                msg = f"cannot stamp the collection: {e.msg}"
                return Err(ErrInfo(e.code, msg, Stage.STORE, e.path, e.cause))
            self.stamped = True
        self.fresh = False
        return Ok(None)


class EmptyIndex:
    """A store with nothing in it, where writes do nothing: what a dry run plans against when
    the collection does not exist yet."""

    def ensure(self, dim: int, sparse: bool = False) -> AsyncPlan[None]:
        return async_pure(None)

    def info(self) -> AsyncPlan[CollectionInfo | None]:
        return async_pure(None)

    def write_stamp(self, stamp: CollectionStamp) -> AsyncPlan[None]:
        return async_pure(None)

    def commits(self) -> AsyncPlan[list[CommitRecord]]:
        return async_pure([])

    def chunks_of(self, sources: Sequence[str]) -> AsyncPlan[list[ChunkRecord]]:
        return async_pure([])

    def scan(self) -> AsyncPlan[tuple[list[StoredRecord], list[str]]]:
        return async_pure(([], []))

    def vectors(self, ids: Sequence[str]) -> AsyncPlan[dict[str, Vector]]:
        return async_pure({})

    def upsert_chunks(
        self, points: Sequence[EmbeddedChunk], bm25: Bm25Params | None = None
    ) -> AsyncPlan[None]:
        return async_pure(None)

    def upsert_commits(self, commits: Sequence[CommitRecord]) -> AsyncPlan[None]:
        return async_pure(None)

    def delete(self, ids: Sequence[str]) -> AsyncPlan[None]:
        return async_pure(None)

    def search(self, query: IndexQuery) -> AsyncPlan[list[SearchHit]]:
        return async_pure([])
