"""What flows between the ingest ops, and the run's report."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from funcpipe.result import ErrInfo

from funcpipe_rag.domain import (
    SPEC_CODES as SPEC_CODES,
)
from funcpipe_rag.domain import (
    ChunkRecord,
    Document,
    Failure,
    SourcePlan,
    Stage,
    Vector,
    is_backend,
)


@dataclass(frozen=True, slots=True)
class Ready:
    """A source plan with the vectors of its ``embed`` records (same order); ``reused``: how
    many of them were not sent to the embedder (found in the store or sent for another)."""

    plan: SourcePlan
    vectors: tuple[Vector, ...]
    reused: int = 0


@dataclass(frozen=True, slots=True)
class Unchanged:
    """A source whose raw text is the one its current commit marker names (at
    ``doc_version``): nothing to parse, chunk, embed or write."""

    source: str
    doc_version: str


@dataclass(frozen=True, slots=True)
class Halt:
    """A failure that is no source's and ends the run (a full disk, a store that cannot be
    made writable, a spec the workers refuse): the run's final ``Err``."""

    error: ErrInfo


@dataclass(frozen=True, slots=True)
class Prepared:
    """A parsed document (``text`` left behind: the records carry it) with the chunk records
    a clean run writes for it, or ``Unchanged``. What a worker gives back in a distributed
    run."""

    doc: Document | Unchanged
    records: tuple[ChunkRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one source (or would happen, in a dry run)."""

    source: str
    action: str
    embedded: int
    upserted: int
    deleted: int
    reused: int = 0

    @staticmethod
    def of(plan: SourcePlan, reused: int = 0) -> Outcome:
        """``reused`` of the plan's new chunks took a vector already made (not embedded)."""
        return Outcome(
            plan.source,
            plan.action,
            len(plan.embed) - reused,
            len(plan.embed) + len(plan.rewrite),
            len(plan.delete),
            reused,
        )


UNKNOWN_SOURCE = "?"
"""The source of an error that names none (it protects every root from ``--prune``)."""

STAGE_EMBED = Stage.EMBED
STAGE_STORE = Stage.STORE
STAGE_CLUSTER = Stage.CLUSTER


@dataclass(frozen=True, slots=True)
class SourceError:
    """One source's failure; ``origin`` is the file or URL it was read from (what the failure
    protects from ``--prune``): the source itself, or the file of a JSONL record."""

    source: str
    code: str
    msg: str
    backend: bool = False
    origin: str = ""

    def to_json(self) -> dict[str, str]:
        return {"source": self.source, "code": self.code, "msg": self.msg}


@dataclass(frozen=True, slots=True)
class Phase:
    """The run enters a phase: ``walk`` (counting the sources), ``sync`` (the sources through
    the spec), ``prune`` (only with ``--prune``), ``index`` (building the search index after a
    large write)."""

    name: str


@dataclass(frozen=True, slots=True)
class Walked:
    """The walk has counted the sources: ``total`` found, and the files it skipped by reason
    (an extension no parser handles, ``(none)``, ``(second link)``), sorted by reason."""

    total: int
    skipped: tuple[tuple[str, int], ...] = ()


IngestEvent = Outcome | SourceError | Phase | Walked
"""What an ingest run emits, in order: phase changes, one outcome or error per source."""


@dataclass(slots=True)
class IngestReport:
    """The summary ``ingest --json`` prints (rag-app.md)."""

    sources_seen: int = 0
    sources_unchanged: int = 0
    sources_added: int = 0
    sources_updated: int = 0
    sources_deleted: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    chunks_upserted: int = 0
    chunks_deleted: int = 0
    errors: list[SourceError] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    keep_outcomes: bool = False
    sources_skipped: dict[str, int] = field(default_factory=dict)

    def add(self, o: Outcome) -> None:
        if o.action != "deleted":
            self.sources_seen += 1
        if o.action == "unchanged":
            self.sources_unchanged += 1
        elif o.action == "added":
            self.sources_added += 1
        elif o.action == "updated":
            self.sources_updated += 1
        elif o.action == "deleted":
            self.sources_deleted += 1
        self.chunks_embedded += o.embedded
        self.chunks_reused += o.reused
        self.chunks_upserted += o.upserted
        self.chunks_deleted += o.deleted
        if self.keep_outcomes:
            self.outcomes.append(o)

    def fail(self, e: SourceError) -> None:
        self.sources_seen += 1
        self.errors.append(e)

    def apply(self, event: IngestEvent) -> None:
        """One step of the fold (``fold_report``)."""
        if isinstance(event, Outcome):
            self.add(event)
        elif isinstance(event, SourceError):
            self.fail(event)
        elif isinstance(event, Walked):
            for reason, n in event.skipped:
                self.sources_skipped[reason] = self.sources_skipped.get(reason, 0) + n

    @property
    def backend_failed(self) -> bool:
        return any(e.backend for e in self.errors)

    def failure(self) -> Failure | None:
        """The run's class: ``backend`` when a backend failed a source, ``partial`` when
        sources failed, ``None`` when every source succeeded."""
        if self.backend_failed:
            return Failure.BACKEND
        return Failure.PARTIAL if self.errors else None

    def to_json(self) -> dict[str, object]:
        return {
            "sources_seen": self.sources_seen,
            "sources_unchanged": self.sources_unchanged,
            "sources_added": self.sources_added,
            "sources_updated": self.sources_updated,
            "sources_deleted": self.sources_deleted,
            "sources_skipped": dict(sorted(self.sources_skipped.items())),
            "chunks_embedded": self.chunks_embedded,
            "chunks_reused": self.chunks_reused,
            "chunks_upserted": self.chunks_upserted,
            "chunks_deleted": self.chunks_deleted,
            "errors": [e.to_json() for e in self.errors],
        }


def fold_report(events: Iterable[IngestEvent], *, keep_outcomes: bool = False) -> IngestReport:
    """The report of a run: a left fold of its events (what ``ingest`` returns)."""
    report = IngestReport(keep_outcomes=keep_outcomes)
    for event in events:
        report.apply(event)
    return report


def source_error(err: ErrInfo) -> SourceError:
    """The ``SourceError`` of a stream's ``Err`` item: every stage fails one source at a time,
    its key in ``path[0]`` (none: ``UNKNOWN_SOURCE``, which protects every root from prune)."""
    source = str(err.path[0]) if err.path else UNKNOWN_SOURCE
    origin = err.ctx.get("origin")
    return SourceError(
        source, err.code, err.msg, is_backend(err), origin if isinstance(origin, str) else source
    )
