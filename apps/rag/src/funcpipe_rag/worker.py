"""What a Dask worker runs (extra ``funcpipe-rag[dask]``): the registry it rebuilds the shipped
worker specs from (``funcpipe_rag.adapters._dask.WORKER_REGISTRY`` names it).

Workers use the embedder their own ``FUNCPIPE_EMBED_*`` environment names (the bundled static
model by default, built by the app's composition root); one whose model or dimension differs
from the command's refuses every task (INVALID_INPUT, stage ``config``: the run ends, exit 2).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import httpx
from funcpipe.adapters.dask import Plain
from funcpipe.adapters.http import HttpClient
from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.specs import Params, Registry, batch_map_entry, map_entry

from funcpipe_rag.adapters import EmbedderPort, UrlRaw, file_source
from funcpipe_rag.adapters._dask import (
    EMBED_TEXTS_ID,
    SHARD_ID,
    STAGE,
    WORKER_OPS_VERSION,
    plain_vectors,
)
from funcpipe_rag.app import Settings, embedder_identity, embedder_session, load_settings
from funcpipe_rag.domain import EmbedderId, RawSource, Stage, SyncContext, Vector, is_url
from funcpipe_rag.pipelines import (
    PreparedList,
    ShardItem,
    chunking_of,
    prepare_source,
    prepared_to_plain,
)


def _int(params: Params, key: str) -> int:
    v = params.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ValueError(f"param {key!r} must be an int >= 0, got {v!r}")
    return v


def _str(params: Params, key: str) -> str:
    v = params.get(key)
    if not isinstance(v, str):
        raise ValueError(f"param {key!r} must be a string, got {v!r}")
    return v


def _identity_of(params: Params) -> EmbedderId:
    return EmbedderId(_str(params, "model"), _int(params, "dim"))


@dataclass(frozen=True, slots=True)
class _WorkerEmbedder:
    """What a worker embeds with: what its environment configures (``None``: the settings do
    not load, so the static model), built by the app's composition root."""

    settings: Settings | None

    @staticmethod
    def from_env() -> _WorkerEmbedder:
        got = load_settings()
        return _WorkerEmbedder(got.value if isinstance(got, Ok) else None)

    def mismatch(self, want: EmbedderId) -> Err[ErrInfo] | None:
        """Why this worker may not embed for a run of ``want`` (one line), or ``None``."""
        have = embedder_identity(self.settings, want)
        if have is None or (have.model == want.model and have.dim in (0, want.dim)):
            return None
        shown = f"{have.model}@{have.dim}" if have.dim else have.model
        msg = (
            f"a Dask worker embeds with {shown}, the command with {want}: "
            "set the same FUNCPIPE_EMBED_* on every worker"
        )
        return Err(ErrInfo(codes.INVALID_INPUT, msg, stage=Stage.CONFIG))

    def session(self, want: EmbedderId) -> AbstractAsyncContextManager[EmbedderPort]:
        """The embedder for one task (see ``embedder_session``)."""
        return embedder_session(self.settings, want)


def _shard_op(params: Params) -> Callable[[list[object]], AsyncPlan[list[Plain]]]:
    """``rag.shard`` (BatchMap over a whole shard): encoded ``ShardItem``s -> per item
    ``{"prepared": PreparedList, "vectors": ...}``; the chunks of the shard's fresh sources
    are embedded together, in requests of ``embed_batch`` texts."""
    want = _identity_of(params)
    ctx = SyncContext(want, _str(params, "spec_hash"), chunking_of(params))
    max_bytes = _int(params, "max_bytes")
    batch = max(1, _int(params, "embed_batch"))
    worker = _WorkerEmbedder.from_env()

    async def prepare(item: object) -> tuple[PreparedList, bool]:
        try:
            si = ShardItem.from_plain(item)
        except ValueError as exc:
            msg = f"a malformed shard item: {exc}"
            return [Err(ErrInfo(codes.INVALID_INPUT, msg, STAGE, ("?",)))], False
        if not is_url(si.location):
            raw: RawSource = file_source(si.key, Path(si.location))
            got = await prepare_source(raw, si.known, max_bytes=max_bytes, ctx=ctx)()
        else:
            async with httpx.AsyncClient(follow_redirects=True) as client:
                raw = UrlRaw(si.key, si.location, HttpClient(client))
                got = await prepare_source(raw, si.known, max_bytes=max_bytes, ctx=ctx)()
        if isinstance(got, Err):
            e = got.error
            return [Err(ErrInfo(e.code, e.msg, e.stage, (si.key,), e.cause, e.ctx))], False
        return got.value, si.fresh

    def run(items: list[object]) -> AsyncPlan[list[Plain]]:
        async def _run() -> Result[list[Plain], ErrInfo]:
            refused = worker.mismatch(want)
            if refused is not None:
                return refused
            done = [await prepare(item) for item in items]
            counts = [len(_texts(p)) if fresh else 0 for p, fresh in done]
            texts = [t for (p, fresh) in done if fresh for t in _texts(p)]
            vectors = await _embed_all(texts, worker, want, batch)
            out: list[Plain] = []
            at = 0
            for (prepared, _), n in zip(done, counts, strict=True):
                mine = vectors[at : at + n] if vectors is not None and n else None
                at += n
                plain = plain_vectors(mine) if mine else None
                out.append({"prepared": prepared_to_plain(prepared), "vectors": plain})
            return Ok(out)

        return _run

    return run


def _texts(items: PreparedList) -> list[str]:
    return [r.text for p in items if isinstance(p, Ok) for r in p.value.records]


async def _embed_all(
    texts: list[str], worker: _WorkerEmbedder, want: EmbedderId, batch: int
) -> list[Vector] | None:
    """The vectors of the fresh sources' chunks (in order), or ``None`` when a request
    fails: the command then embeds them through ``rag.embed_texts``, with the spec's
    retries."""
    if not texts:
        return None
    out: list[Vector] = []
    async with worker.session(want) as embedder:
        for i in range(0, len(texts), batch):
            part = texts[i : i + batch]
            got = await embedder.embed(part)()
            if isinstance(got, Err) or len(got.value) != len(part):
                return None
            out.extend(got.value)
    return out


def _embed_op(params: Params) -> Callable[[object], AsyncPlan[Plain]]:
    """``rag.embed_texts``: a list of texts -> one vector (list of floats) per text."""
    want = _identity_of(params)
    worker = _WorkerEmbedder.from_env()

    def run(item: object) -> AsyncPlan[Plain]:
        async def _run() -> Result[Plain, ErrInfo]:
            refused = worker.mismatch(want)
            if refused is not None:
                return refused
            if not isinstance(item, list) or not all(isinstance(t, str) for t in item):
                return Err(ErrInfo(codes.INVALID_INPUT, "texts must be a list of strings", STAGE))
            async with worker.session(want) as embedder:
                got = await embedder.embed([str(t) for t in item])()
            return got.map(plain_vectors)

        return _run

    return run


def worker_registry() -> Registry:
    """The registry a worker rebuilds the shipped specs from (``WORKER_REGISTRY``)."""
    return Registry(
        [
            batch_map_entry(SHARD_ID, WORKER_OPS_VERSION, _shard_op),
            map_entry(EMBED_TEXTS_ID, WORKER_OPS_VERSION, _embed_op),
        ]
    )
