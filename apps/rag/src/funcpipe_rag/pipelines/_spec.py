"""The default ingest spec, published from code."""

from __future__ import annotations

from funcpipe.policies import BackpressurePolicy, ChunkPolicy, RetryPolicy, TimeoutPolicy
from funcpipe.result import codes
from funcpipe.specs import PipelineSpec, batch_map_op, flat_map_op, map_op, pipeline_spec

from funcpipe_rag.domain import SearchConfig

from ._settings import (
    DEFAULT_PARAMS,
    DESCRIBE_ENTRIES,
    DOCS_ID,
    EMBED_ID,
    PLAN_ID,
    READ_ID,
    WRITE_ID,
    IngestSettings,
    ingest_settings,
)

DEFAULT_COLLECTION = "funcpipe"
DEFAULT_SEARCH = SearchConfig()
"""The default spec's search: hybrid (dense + BM25, RRF), the winner of ``make eval``."""


def build_default_spec(search: SearchConfig = DEFAULT_SEARCH) -> PipelineSpec:
    """The default ingest pipeline: read (concurrent) -> docs -> plan -> embed (batched) ->
    write (batched), with ``search`` as its search config and every param at its default.

    The retry and timeout of plan, embed and write are applied per store call and per
    embedding request (the units that fail), never around a whole batch."""
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
                params=dict(DEFAULT_PARAMS[READ_ID]),
                backpressure=BackpressurePolicy(max_concurrent=16, ordered=True),
            ),
            flat_map_op(DESCRIBE_ENTRIES[DOCS_ID]),
            batch_map_op(
                DESCRIBE_ENTRIES[PLAN_ID],
                chunk=ChunkPolicy(max_units=32, max_delay_ms=0),
                params=dict(DEFAULT_PARAMS[PLAN_ID]),
                retry="store_retry",
                backpressure=BackpressurePolicy(max_concurrent=2, ordered=True),
            ),
            batch_map_op(
                DESCRIBE_ENTRIES[EMBED_ID],
                params=dict(DEFAULT_PARAMS[EMBED_ID]),
                chunk=ChunkPolicy(max_units=32, max_delay_ms=0),
                retry=embed_retry,
                timeout=TimeoutPolicy(timeout_ms=120_000),
                backpressure=BackpressurePolicy(max_concurrent=2, ordered=True),
            ),
            batch_map_op(
                DESCRIBE_ENTRIES[WRITE_ID],
                params=dict(DEFAULT_PARAMS[WRITE_ID]),
                chunk=ChunkPolicy(max_units=64, max_delay_ms=0),
                retry="store_retry",
            ),
        ],
        policies={"store_retry": store_retry},
        resources={"collection": DEFAULT_COLLECTION, "search": search.to_data()},
    )


DEFAULT_SPEC: PipelineSpec = build_default_spec()
"""The spec ``ingest`` runs when no ``--spec`` is given."""
DEFAULT_SETTINGS: IngestSettings = ingest_settings(DEFAULT_SPEC).unwrap()
"""The default spec's typed settings."""
