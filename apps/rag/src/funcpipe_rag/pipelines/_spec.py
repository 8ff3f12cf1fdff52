"""The default ingest spec, published from code, and reading the options a spec carries."""

from __future__ import annotations

from collections.abc import Mapping

from funcpipe.policies import (
    BackpressurePolicy,
    ChunkPolicy,
    ResilienceEnv,
    RetryPolicy,
    TimeoutPolicy,
)
from funcpipe.result import codes
from funcpipe.specs import (
    PipelineSpec,
    batch_map_op,
    flat_map_op,
    map_op,
    pipeline_spec,
)

from funcpipe_rag.domain import ChunkingConfig, SearchConfig

from ._ops import (
    DEFAULT_MAX_BYTES,
    DESCRIBE_ENTRIES,
    DOCS_ID,
    EMBED_ID,
    PLAN_ID,
    READ_ID,
    WRITE_ID,
    Resilience,
    chunking_of,
)

DEFAULT_COLLECTION = "funcpipe"
DEFAULT_SEARCH = SearchConfig()
"""The default spec's search: hybrid (dense + BM25, RRF), the winner of ``make eval``."""


def build_default_spec(search: SearchConfig = DEFAULT_SEARCH) -> PipelineSpec:
    """The default ingest pipeline: read (concurrent) -> docs -> plan -> embed (batched) ->
    write (batched), with ``search`` as its search config."""
    # Embedding is pure and every write is an idempotent upsert or delete by stable id, so a
    # dropped connection (NETWORK) is as safe to retry as the default transient codes.
    retriable = frozenset({codes.TRANSIENT, codes.TIMEOUT, codes.RATE_LIMIT, codes.NETWORK})
    store_retry = RetryPolicy(
        max_attempts=4, retriable_codes=retriable, backoff_base_ms=200, max_backoff_ms=5_000
    )
    embed_retry = RetryPolicy(
        max_attempts=5, retriable_codes=retriable, backoff_base_ms=500, max_backoff_ms=30_000
    )
    return pipeline_spec(
        "funcpipe-rag-ingest",
        [
            map_op(
                DESCRIBE_ENTRIES[READ_ID],
                params={"max_bytes": DEFAULT_MAX_BYTES},
                backpressure=BackpressurePolicy(max_concurrent=16, ordered=True),
            ),
            flat_map_op(DESCRIBE_ENTRIES[DOCS_ID]),
            batch_map_op(
                DESCRIBE_ENTRIES[PLAN_ID],
                chunk=ChunkPolicy(max_units=32, max_delay_ms=0),
                params={"chunk_chars": 800, "chunk_overlap": 80},
                retry="store_retry",
                backpressure=BackpressurePolicy(max_concurrent=2, ordered=True),
            ),
            batch_map_op(
                DESCRIBE_ENTRIES[EMBED_ID],
                params={"embed_batch": 64, "embed_max_chars": 64_000},
                chunk=ChunkPolicy(max_units=32, max_delay_ms=0),
                retry=embed_retry,
                timeout=TimeoutPolicy(timeout_ms=120_000),
                backpressure=BackpressurePolicy(max_concurrent=2, ordered=True),
            ),
            batch_map_op(
                DESCRIBE_ENTRIES[WRITE_ID],
                params={"upsert_batch": 256},
                chunk=ChunkPolicy(max_units=64, max_delay_ms=0),
                retry="store_retry",
            ),
        ],
        policies={"store_retry": store_retry},
        resources={"collection": DEFAULT_COLLECTION, "search": search.to_data()},
    )


DEFAULT_SPEC: PipelineSpec = build_default_spec()
"""The spec ``ingest`` runs when no ``--spec`` is given."""


def spec_chunking(spec: PipelineSpec) -> ChunkingConfig:
    """The chunking config of a spec (from its plan op's params)."""
    for op in spec.ops:
        if op.func_id == PLAN_ID:
            return chunking_of(op.params)
    return ChunkingConfig(800, 80)


def spec_collection(spec: PipelineSpec) -> str | None:
    """The collection a spec names in its resources, if any."""
    value = spec.resources.get("collection")
    return value if isinstance(value, str) and value else None


def _policy_data(spec: PipelineSpec, func_id: str, kind: str) -> Mapping[str, object] | None:
    for op in spec.ops:
        if op.func_id != func_id:
            continue
        slot = getattr(op.policies, kind)
        if isinstance(slot, str):
            named = spec.policies.get(slot)
            return named.config if named is not None else None
        return slot if isinstance(slot, Mapping) else None
    return None


def spec_resilience(spec: PipelineSpec, env: ResilienceEnv | None = None) -> Resilience:
    """The per-request policies of a spec: its embed op's retry, timeout and backpressure
    (for each embedding request) and its write op's retry (for each store write)."""
    retry = _policy_data(spec, EMBED_ID, "retry")
    timeout = _policy_data(spec, EMBED_ID, "timeout")
    bp = _policy_data(spec, EMBED_ID, "backpressure")
    store = _policy_data(spec, WRITE_ID, "retry")
    return Resilience(
        embed_retry=RetryPolicy.from_dict(retry) if retry is not None else None,
        embed_timeout=TimeoutPolicy.from_dict(timeout) if timeout is not None else None,
        embed_concurrency=BackpressurePolicy.from_dict(bp).max_concurrent if bp else 1,
        store_retry=RetryPolicy.from_dict(store) if store is not None else None,
        env=env,
    )
