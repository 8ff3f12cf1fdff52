"""Small-request ingest specs for tests: tiny groups and batches, retries that do not wait."""

from __future__ import annotations

from funcpipe.policies import BackpressurePolicy, ChunkPolicy, RetryPolicy
from funcpipe.result import codes
from funcpipe.specs import PipelineSpec, batch_map_op, flat_map_op, map_op, pipeline_spec
from funcpipe_rag.pipelines import (
    DESCRIBE_ENTRIES,
    DOCS_ID,
    EMBED_ID,
    PLAN_ID,
    READ_ID,
    WRITE_ID,
)


def fast_retry_spec(
    name: str,
    *,
    attempts: int,
    group: int,
    embed_batch: int,
    concurrency: int,
    write_group: int,
) -> PipelineSpec:
    """The default stages with ``group`` sources per plan/embed batch, ``embed_batch`` texts
    per request, ``concurrency`` requests at once, and TRANSIENT / RATE_LIMIT / NETWORK
    retried ``attempts`` times with no backoff."""
    retry = RetryPolicy(
        max_attempts=attempts,
        retriable_codes=frozenset({codes.TRANSIENT, codes.RATE_LIMIT, codes.NETWORK}),
        backoff_base_ms=0,
        max_backoff_ms=0,
        jitter_factor=0.0,
    )
    return pipeline_spec(
        name,
        [
            map_op(DESCRIBE_ENTRIES[READ_ID]),
            flat_map_op(DESCRIBE_ENTRIES[DOCS_ID]),
            batch_map_op(
                DESCRIBE_ENTRIES[PLAN_ID],
                chunk=ChunkPolicy(max_units=group, max_delay_ms=0),
                params={"chunk_chars": 200, "chunk_overlap": 0},
                retry=retry,
            ),
            batch_map_op(
                DESCRIBE_ENTRIES[EMBED_ID],
                params={"embed_batch": embed_batch},
                chunk=ChunkPolicy(max_units=group, max_delay_ms=0),
                retry=retry,
                backpressure=BackpressurePolicy(max_concurrent=concurrency),
            ),
            batch_map_op(
                DESCRIBE_ENTRIES[WRITE_ID],
                chunk=ChunkPolicy(max_units=write_group, max_delay_ms=0),
                retry=retry,
            ),
        ],
    )
