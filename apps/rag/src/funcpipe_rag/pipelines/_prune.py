"""The prune phase: stored sources under the run's roots that it did not see, and that no
failure protects, deleted by the protocol with the run's own context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from funcpipe.result import Err, ErrInfo, Ok, Result
from funcpipe.streams import AsyncGen

from funcpipe_rag.domain import (
    ChunkRecord,
    CollectionStamp,
    CommitRecord,
    SourceState,
    Stage,
    SyncContext,
    VectorIndex,
    plan_source,
    prune_candidates,
)

from ._session import RunConfig
from ._stages import at_source
from ._types import UNKNOWN_SOURCE, IngestEvent, Outcome, Ready, SourceError, source_error
from ._write import write_group


@dataclass(slots=True)
class RunLog:
    """What one run remembers for pruning: the sources it saw (only with ``--prune``, it is
    O(sources)) and the ones a failure protects."""

    seen: set[str] = field(default_factory=set)
    protected: set[str] = field(default_factory=set)

    def failed(self, e: SourceError) -> None:
        self.protected.add(e.origin or e.source)


def prune_phase(
    index: VectorIndex,
    cfg: RunConfig,
    stamp: CollectionStamp,
    roots: tuple[str, ...],
    dry_run: bool,
    run: RunLog,
) -> AsyncGen[IngestEvent]:
    """The prune phase: delete stored sources under the roots the run did not see (and no
    failure protects), with the run's own context (the spec is not read again)."""

    async def _gen() -> AsyncIterator[Result[IngestEvent, ErrInfo]]:
        scanned = await index.scan()()
        if isinstance(scanned, Err):
            e = scanned.error
            msg = f"cannot scan the collection for pruning: {e.msg}"
            yield Err(ErrInfo(e.code, msg, Stage.STORE, e.path, e.cause, e.ctx))
            return
        records, _ = scanned.value
        protected = set(run.protected)
        if UNKNOWN_SOURCE in protected:  # a failure we cannot place protects every root
            protected |= set(roots)
        stored = {r.source for r in records}
        ctx = SyncContext(stamp.embedder, cfg.spec_hash, stamp.chunking)
        for source in prune_candidates(stored, run.seen, roots, protected):
            commit = next(
                (r for r in records if isinstance(r, CommitRecord) and r.source == source), None
            )
            chunks = tuple(r for r in records if isinstance(r, ChunkRecord) and r.source == source)
            plan = plan_source(source, None, "", SourceState(commit, chunks), ctx)
            if plan.is_noop:
                continue
            if not dry_run:
                done = await write_group(
                    index, [Ready(plan, ())], cfg.settings.upsert_batch, cfg.store_calls
                )()
                if isinstance(done, Err):
                    yield Ok(source_error(at_source(done.error, Stage.STORE, source).error))
                    continue
            yield Ok(Outcome.of(plan))

    return _gen
