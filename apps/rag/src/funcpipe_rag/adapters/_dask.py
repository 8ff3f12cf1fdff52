"""The ingest's ports over a Dask cluster (extra ``funcpipe-rag[dask]``): ``DaskShards``
(the ``ShardRunner``) and ``DaskEmbedder`` (the ``Embedder``) over the library's
``DaskRunner``, the worker jobs they run, and the wire format of vectors.

Two worker ops, each shipped as its own sealed spec (canonical JSON; each worker verifies its
hashes and rebuilds it from ``WORKER_REGISTRY``, the only registry the command allows):
``rag.shard`` reads, parses and chunks a shard of sources; ``rag.embed_texts`` embeds one
request's texts (``funcpipe_rag.worker`` is what a worker runs). Tasks are at-least-once: both
ops are pure functions of their input, so a re-run task is harmless.
"""

from __future__ import annotations

import base64
import uuid
from array import array
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager

from funcpipe.adapters.dask import DaskJob, DaskRunner, Partition, Plain, dask_client
from funcpipe.async_plan import AsyncPlan
from funcpipe.policies import ChunkPolicy
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.specs import Params, RegistryEntry, batch_map_op, map_op, pipeline_spec
from funcpipe.specs import serialize as spec_serialize
from funcpipe.streams import AsyncGen, close_stream

from funcpipe_rag.domain import EmbedderId, RawSource, Stage, SyncContext, Vector
from funcpipe_rag.pipelines import (
    IngestSettings,
    PreparedList,
    Remote,
    Shard,
    ShardDone,
    prepared_of,
)

from ._sources import FileRaw, UrlRaw
from .extract import DocRaw

WORKER_REGISTRY = "funcpipe_rag.worker:worker_registry"
"""The import name every worker rebuilds the shipped specs from (the package installed)."""

SHARD_ID, EMBED_TEXTS_ID = "rag.shard", "rag.embed_texts"
WORKER_OPS_VERSION = "1"
WORKER_ALLOW_LIST = (SHARD_ID, EMBED_TEXTS_ID)
STAGE = Stage.CLUSTER
SHARD_SIZE = 8
"""Sources per shard (a task); small enough that the window keeps every worker busy."""
MAX_SHARD = 1024
"""Sources per shard at most (the shard op takes a whole shard as one batch)."""


def _described(_: Params) -> Callable[..., object]:
    raise RuntimeError("a worker op is built from funcpipe_rag.worker's registry")


SHARD_ENTRY = RegistryEntry(SHARD_ID, "BatchMap", WORKER_OPS_VERSION, _described)
EMBED_TEXTS_ENTRY = RegistryEntry(EMBED_TEXTS_ID, "Map", WORKER_OPS_VERSION, _described)


def plain_vectors(vectors: list[Vector]) -> Plain:
    """Vectors as one base64 string of float64s (exact; a list of floats costs the wire's
    plain-data check per float), with their dimension."""
    dim = len(vectors[0]) if vectors else 0
    flat = array("d")
    for v in vectors:
        if len(v) != dim:
            return {"dim": -1, "n": len(vectors), "b64": ""}
        flat.extend(v)
    return {"dim": dim, "n": len(vectors), "b64": base64.b64encode(flat.tobytes()).decode()}


def worker_jobs(settings: IngestSettings, identity: EmbedderId) -> tuple[DaskJob, DaskJob]:
    """The two jobs of a run (shard, embed), each a sealed one-op spec whose params carry what
    the worker needs of the ingest's settings: the embedder's identity, the spec's hash and
    chunking, the read limit and the embedding batch."""
    chunking = settings.chunking
    who: Mapping[str, object] = {"model": identity.model, "dim": identity.dim}
    shard = pipeline_spec(
        "funcpipe-rag-shard",
        [
            batch_map_op(
                SHARD_ENTRY,
                chunk=ChunkPolicy(max_units=MAX_SHARD, max_delay_ms=0),  # a whole shard at once
                params={
                    **who,
                    "spec_hash": settings.spec_hash,
                    "chunk_chars": chunking.max_chars,
                    "chunk_overlap": chunking.overlap,
                    "max_bytes": settings.max_bytes,
                    "embed_batch": settings.embed_batch,
                },
            )
        ],
    )
    embed = pipeline_spec("funcpipe-rag-embed", [map_op(EMBED_TEXTS_ENTRY, params=who)])
    return (
        DaskJob(spec_serialize(shard, "json"), WORKER_REGISTRY, WORKER_ALLOW_LIST),
        DaskJob(spec_serialize(embed, "json"), WORKER_REGISTRY, WORKER_ALLOW_LIST),
    )


class DaskShards:
    """``ShardRunner`` over a ``DaskRunner``: each shard one task of the shard job."""

    def __init__(
        self,
        runner: DaskRunner,
        job: DaskJob,
        ctx: SyncContext,
        vectors: dict[str, Vector] | None = None,
    ) -> None:
        self._runner, self._job, self._ctx = runner, job, ctx
        self._vectors = vectors if vectors is not None else {}

    def _decode(self, data: Plain, key: str) -> PreparedList:
        """A worker's result: its prepared documents; the vectors it made for a fresh
        source's chunks go to the run's cache (text -> vector) that ``DaskEmbedder`` reads."""
        if not isinstance(data, dict):
            return prepared_of(None, self._ctx, key)
        prepared = prepared_of(data.get("prepared"), self._ctx, key)
        raw = data.get("vectors")
        if raw is not None:
            got = _vectors_of(raw)
            texts = [r.text for p in prepared if isinstance(p, Ok) for r in p.value.records]
            if isinstance(got, Ok) and len(got.value) == len(texts):
                self._vectors.update(zip(texts, got.value, strict=True))
        return prepared

    def locate(self, raw: RawSource) -> str | None:
        if isinstance(raw, FileRaw | DocRaw):
            return str(raw.path.absolute())
        if isinstance(raw, UrlRaw):
            return raw.url
        return None

    def run(self, shards: Iterable[Shard]) -> AsyncGen[ShardDone]:
        by_key: dict[str, Shard] = {}

        def parts() -> Iterable[Partition]:
            for s in shards:
                by_key[s.key] = s
                yield Partition(s.key, tuple(i.to_plain() for i in s.items))

        results = self._runner.run(self._job, parts())

        async def _gen() -> AsyncIterator[Result[ShardDone, ErrInfo]]:
            it = results()
            try:
                async for r in it:
                    if isinstance(r, Err):
                        yield r
                        continue
                    done = r.value
                    shard = by_key[done.key]
                    if len(done.results) != len(shard.items):  # the whole task was refused
                        first = next((x for x in done.results if isinstance(x, Err)), None)
                        e = first.error if first is not None else _malformed()
                        yield Err(ErrInfo(e.code, e.msg, e.stage or STAGE, (done.key,)))
                        continue
                    prepared: tuple[PreparedList, ...] = tuple(
                        self._decode(x.value, item.key) if isinstance(x, Ok) else [x]
                        for x, item in zip(done.results, shard.items, strict=True)
                    )
                    yield Ok(ShardDone(done.key, prepared))
            finally:
                await close_stream(it)

        return _gen


def _malformed() -> ErrInfo:
    return ErrInfo(codes.UNEXPECTED, "a malformed task result", STAGE)


class DaskEmbedder:
    """The ``Embedder`` port over the cluster: each request is one task of the embed job
    (embedding is pure, so a task run twice is harmless); retries and batching stay the
    ingest's (``embed_group``)."""

    def __init__(
        self,
        runner: DaskRunner,
        job: DaskJob,
        identity: EmbedderId,
        vectors: dict[str, Vector] | None = None,
    ) -> None:
        self._runner, self._job, self._identity = runner, job, identity
        self._vectors = vectors if vectors is not None else {}
        self.sent = 0  # texts sent to the cluster (not already embedded by a shard task)

    @property
    def identity(self) -> EmbedderId:
        return self._identity

    def embed(self, texts: Iterable[str]) -> AsyncPlan[list[Vector]]:
        """The vectors of ``texts``: those a shard task already made (taken from the run's
        cache), the others from one task of the embed job."""
        asked = list(texts)

        async def _embed() -> Result[list[Vector], ErrInfo]:
            have = {t: self._vectors[t] for t in asked if t in self._vectors}
            missing = [t for t in dict.fromkeys(asked) if t not in have]
            if missing:
                got = await self._remote(missing)
                if isinstance(got, Err):
                    return got
                have.update(zip(missing, got.value, strict=False))
            for t in have:
                self._vectors.pop(t, None)
            return Ok([have[t] for t in asked])

        return _embed

    async def _remote(self, texts: list[str]) -> Result[list[Vector], ErrInfo]:
        frozen: list[Plain] = list(texts)
        self.sent += len(texts)
        rid = uuid.uuid4().hex[:16]
        it = self._runner.run(self._job, [Partition(f"embed-{rid}", (frozen,))], run_id=rid)()
        try:
            r = await anext(it, None)
        finally:
            await close_stream(it)
        if r is None:
            return Err(_malformed())
        if isinstance(r, Err):
            return Err(ErrInfo(r.error.code, r.error.msg, Stage.EMBED, ()))
        got = r.value.results
        if len(got) != 1:
            return Err(_malformed())
        one = got[0]
        if isinstance(one, Err):
            e = one.error
            return Err(ErrInfo(e.code, e.msg, e.stage, (), e.cause, e.ctx))
        vectors = _vectors_of(one.value)
        if isinstance(vectors, Ok) and len(vectors.value) != len(texts):
            return Err(_malformed())
        return vectors


def _vectors_of(data: Plain) -> Result[list[Vector], ErrInfo]:
    """The inverse of ``plain_vectors``; vectors of different lengths are
    DIMENSION_MISMATCH, anything malformed UNEXPECTED."""
    if not isinstance(data, dict):
        return Err(_malformed())
    dim, n, b64 = data.get("dim"), data.get("n"), data.get("b64")
    if not isinstance(dim, int) or not isinstance(n, int) or not isinstance(b64, str):
        return Err(_malformed())
    if dim < 0:
        msg = "the embedder returned vectors of different lengths"
        return Err(ErrInfo(codes.DIMENSION_MISMATCH, msg, Stage.EMBED))
    flat = array("d")
    try:
        flat.frombytes(base64.b64decode(b64, validate=True))
    except ValueError:
        return Err(_malformed())
    if len(flat) != dim * n:
        return Err(_malformed())
    values = flat.tolist()
    return Ok([values[i * dim : (i + 1) * dim] for i in range(n)])


@asynccontextmanager
async def open_remote(
    address: str | None,
    workers: int | None,
    timeout_s: float,
    settings: IngestSettings,
    identity: EmbedderId,
) -> AsyncIterator[Result[Remote, ErrInfo]]:
    """The ``Remote`` of a run on the scheduler at ``address`` (or a LocalCluster of
    ``workers`` processes); the client (and a local cluster) closed on exit. A scheduler that
    cannot be reached is ``Err(NETWORK)`` (stage ``cluster``)."""
    n = workers or 1
    async with dask_client(address, n_workers=n, timeout_s=timeout_s) as opened:
        if isinstance(opened, Err):
            e = opened.error
            yield Err(ErrInfo(e.code, e.msg, STAGE, e.path, e.cause))
            return
        client = opened.value
        if address is not None:
            # the scheduler's worker threads now (the window: two tasks per thread)
            threads = await client.nthreads()  # type: ignore[no-untyped-call]
            n = max(1, sum(threads.values()))
        runner = DaskRunner(client, allowed_registries={WORKER_REGISTRY}, max_in_flight=2 * n)
        shard_job, embed_job = worker_jobs(settings, identity)
        ctx = SyncContext(identity, settings.spec_hash, settings.chunking)
        made: dict[str, Vector] = {}  # vectors shard tasks made, until the run asks for them
        yield Ok(
            Remote(
                DaskShards(runner, shard_job, ctx, made),
                DaskEmbedder(runner, embed_job, identity, made),
                shard_size=SHARD_SIZE,
                embed_concurrency=2 * n,
            )
        )
