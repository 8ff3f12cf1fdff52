"""The ingest spec, parsed once into typed settings that every reader takes.

A spec stays checked, hashed data (it crosses processes as such); ``ingest_settings`` reads it
once: the library's own checks of every op against the ingest registry (``resolve_ops``:
UNALLOWED_OP, UNKNOWN_OP, INVALID_SPEC for a kind, VERSION_MISMATCH), the ops in the one order
the typed ingest composes (read -> docs -> plan -> embed -> write; INVALID_SPEC naming the first
that differs), each op's params (RECONSTRUCT_FAIL naming the bad one) and ``resources.search``
(INVALID_SPEC). The stages, the Dask workers, the CLI and the service all take the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from funcpipe.async_plan import AsyncPlan, async_with_resilience
from funcpipe.policies import ResilienceEnv, RetryPolicy, TimeoutPolicy
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.specs import Params, PipelineSpec, Registry, RegistryEntry, ResolvedOp, resolve_ops

from funcpipe_rag.domain import ChunkingConfig, SearchConfig, Stage

T = TypeVar("T")

READ_ID, DOCS_ID, PLAN_ID = "rag.read", "rag.docs", "rag.plan"
EMBED_ID, WRITE_ID = "rag.embed", "rag.write"
OPS_VERSION = "2"
"""The ops' version in every spec: 2 since chunks hold readable text with source spans, titles
and heading paths (a spec built against 1 is VERSION_MISMATCH: its stores hold the old chunks)."""
OP_ORDER = (READ_ID, DOCS_ID, PLAN_ID, EMBED_ID, WRITE_ID)
ALLOW_LIST = frozenset(OP_ORDER)

DEFAULT_MAX_BYTES = 8 * 1024 * 1024
DEFAULT_PARAMS: Mapping[str, Mapping[str, int]] = {
    READ_ID: {"max_bytes": DEFAULT_MAX_BYTES},
    DOCS_ID: {},
    PLAN_ID: {"chunk_chars": 800, "chunk_overlap": 80},
    EMBED_ID: {"embed_batch": 64, "embed_max_chars": 64_000},
    WRITE_ID: {"upsert_batch": 256},
}
"""Every op param and its default, written once (the default spec carries these values)."""
_MINIMUM = {"chunk_chars": 16, "chunk_overlap": 0}


def _unbound(_: Params) -> Callable[..., object]:
    raise RuntimeError("the ingest's stages are composed by describe_ingest, not reconstructed")


DESCRIBE_REGISTRY = Registry(
    [
        RegistryEntry(READ_ID, "Map", OPS_VERSION, _unbound),
        RegistryEntry(DOCS_ID, "FlatMap", OPS_VERSION, _unbound),
        RegistryEntry(PLAN_ID, "BatchMap", OPS_VERSION, _unbound),
        RegistryEntry(EMBED_ID, "BatchMap", OPS_VERSION, _unbound),
        RegistryEntry(WRITE_ID, "BatchMap", OPS_VERSION, _unbound),
    ]
)
"""The ingest ops by id, kind and version: what a spec is checked against."""
DESCRIBE_ENTRIES: Mapping[str, RegistryEntry] = {i: DESCRIBE_REGISTRY[i] for i in OP_ORDER}


def param(params: Params, func_id: str, key: str) -> int:
    """An int param of an op, its default when absent; ``ValueError`` naming a bad value."""
    v = params.get(key, DEFAULT_PARAMS[func_id][key])
    minimum = _MINIMUM.get(key, 1)
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise ValueError(f"param {key!r} must be an int >= {minimum}, got {v!r}")
    return v


def chunking_of(params: Params) -> ChunkingConfig:
    """The chunking config of the plan op's params (``chunk_chars``, ``chunk_overlap``)."""
    return ChunkingConfig(
        param(params, PLAN_ID, "chunk_chars"), param(params, PLAN_ID, "chunk_overlap")
    )


@dataclass(frozen=True, slots=True)
class Retrying:
    """One policy applied at one unit of failure (a request, a store call), never twice."""

    retry: RetryPolicy | None = None
    timeout: TimeoutPolicy | None = None
    env: ResilienceEnv | None = None

    def __call__(self, step: AsyncPlan[T]) -> AsyncPlan[T]:
        if self.retry is None and self.timeout is None:
            return step
        return async_with_resilience(
            step, self.retry or RetryPolicy(max_attempts=1), self.timeout, self.env
        )


ONCE = Retrying()
"""No retry and no timeout: each call runs once."""


@dataclass(frozen=True, slots=True)
class IngestSettings:
    """A checked ingest spec as typed values: its hash and collection, the search config, the
    chunking, each op's params and its resolved policies (``read`` .. ``write``); ``spec`` is
    the data it was read from (what crosses a process boundary)."""

    spec: PipelineSpec
    spec_hash: str
    collection: str | None
    search: SearchConfig
    chunking: ChunkingConfig
    max_bytes: int
    embed_batch: int
    embed_max_chars: int
    upsert_batch: int
    read: ResolvedOp
    docs: ResolvedOp
    plan: ResolvedOp
    embed: ResolvedOp
    write: ResolvedOp

    def embed_calls(self, env: ResilienceEnv | None = None) -> Retrying:
        """Each embedding request: the embed op's retry and timeout."""
        return Retrying(self.embed.retry, self.embed.timeout, env)

    def store_calls(self, env: ResilienceEnv | None = None) -> Retrying:
        """Each store call (every one an idempotent read, upsert or delete): the write op's
        retry."""
        return Retrying(self.write.retry, None, env)

    @property
    def embed_concurrency(self) -> int:
        """Embedding requests of one group in flight at once (the embed op's backpressure)."""
        bp = self.embed.backpressure
        return bp.max_concurrent if bp is not None else 1


STAGE_IO: Mapping[str, tuple[str, str]] = {
    READ_ID: ("RawSource", "Parsed"),
    DOCS_ID: ("Parsed", "Document"),
    PLAN_ID: ("Document", "SourcePlan"),
    EMBED_ID: ("SourcePlan", "Ready"),
    WRITE_ID: ("Ready", "Outcome"),
}
"""What each op's stage takes and gives, for the messages (mypy checks the composition)."""


def _misfit(ids: list[str]) -> Err[ErrInfo] | None:
    """INVALID_SPEC naming both ops where the spec's order differs from the composed one."""
    prev, gives = "the sources", "RawSource"
    for i, func_id in enumerate(ids):
        if i >= len(OP_ORDER) or func_id != OP_ORDER[i]:
            takes = STAGE_IO[func_id][0]
            msg = (
                f"ops.{i}: {func_id} takes {takes}, but {prev} gives {gives} (an ingest spec is "
                "read -> docs -> plan -> embed -> write, each once)"
            )
            return _spec_err(codes.INVALID_SPEC, msg, ("ops", i))
        prev, gives = func_id, STAGE_IO[func_id][1]
    if len(ids) < len(OP_ORDER):
        msg = (
            f"the last op, {prev}, gives {gives}: an ingest spec must end with {WRITE_ID} "
            "(read -> docs -> plan -> embed -> write), or it would ingest nothing"
        )
        return _spec_err(codes.INVALID_SPEC, msg, ("ops",))
    return None


def _spec_err(code: str, msg: str, path: tuple[str | int, ...]) -> Err[ErrInfo]:
    return Err(ErrInfo(code, msg, stage=Stage.SPECS, path=path))


def ingest_settings(spec: PipelineSpec) -> Result[IngestSettings, ErrInfo]:
    """The typed settings of ``spec``, or why this app cannot run it (the codes above). No
    store, embedder or factory is touched."""
    data = spec.resources.get("search")
    try:
        search = SearchConfig(mode="dense") if data is None else SearchConfig.from_data(data)
    except ValueError as exc:
        return _spec_err(codes.INVALID_SPEC, f"resources.{exc}", ("resources", "search"))
    resolved = resolve_ops(spec, DESCRIBE_REGISTRY, allow_list=ALLOW_LIST)
    if isinstance(resolved, Err):
        return resolved
    ops = resolved.value
    misfit = _misfit([r.op.func_id for r in ops])
    if misfit is not None:
        return misfit
    read, docs, plan, embed, write = ops
    params: dict[str, int] = {}
    for i, r in enumerate(ops):
        try:
            for key in DEFAULT_PARAMS[r.op.func_id]:
                params[key] = param(r.op.params, r.op.func_id, key)
        except ValueError as exc:
            msg = f"ops.{i}: factory {r.op.func_id!r} failed: ValueError: {exc}"
            return _spec_err(codes.RECONSTRUCT_FAIL, msg, ("ops", i))
    try:
        chunking = ChunkingConfig(params["chunk_chars"], params["chunk_overlap"])
    except ValueError as exc:
        msg = f"ops.2: factory {PLAN_ID!r} failed: ValueError: {exc}"
        return _spec_err(codes.RECONSTRUCT_FAIL, msg, ("ops", 2))
    return Ok(
        IngestSettings(
            spec,
            spec.version,
            spec_collection(spec),
            search,
            chunking,
            params["max_bytes"],
            params["embed_batch"],
            params["embed_max_chars"],
            params["upsert_batch"],
            read=read,
            docs=docs,
            plan=plan,
            embed=embed,
            write=write,
        )
    )


def spec_collection(spec: PipelineSpec) -> str | None:
    """The collection a spec names in its resources, if any."""
    value = spec.resources.get("collection")
    return value if isinstance(value, str) and value else None
