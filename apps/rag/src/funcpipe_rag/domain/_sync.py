"""The pure plan of an incremental sync: what to embed, upsert, delete and commit per source.

Protocol (rag-app.md): for one source, upsert the new version's points, delete that source's
points that are not in the new version, then record the source as committed at that version.

Laws (Hypothesis-checked): planning against the state a plan produces gives an empty plan
(idempotence); applying a plan to any partial state left by a crash converges to the state a
clean run produces; a current commit marker means the source is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from uuid import uuid5

from ._chunk import ChunkingConfig, chunk_document
from ._failures import NO_SPACE as NO_SPACE
from ._identity import NAMESPACE, chunk_hash, chunk_set_hash, commit_id, key_is_under, point_id
from ._locator import locate
from ._retrieval import DENSE_ONLY, SearchConfig
from ._types import (
    ChunkRecord,
    CommitRecord,
    Document,
    EmbedderId,
    StoredRecord,
    context_line,
)

Action = Literal["unchanged", "added", "updated", "deleted"]


@dataclass(frozen=True, slots=True)
class SyncContext:
    """What identifies the writer: embedder, spec hash, and how documents are chunked."""

    embedder: EmbedderId
    spec_hash: str
    chunking: ChunkingConfig


WRITE_MARGIN = 16 * 1024 * 1024
"""Free bytes always kept beyond the next writes' estimate (a new collection alone takes ~5
MiB; Qdrant Edge writes through memory maps, where a full disk is a SIGBUS, not an error)."""

READ_MARGIN = 2 * 1024 * 1024
"""Free bytes a store needs just to be opened and read (its maps may touch new pages)."""


def space_needed(points: int, dim: int, text_chars: int) -> int:
    """Bytes the next writes of ``points`` points may take: vector and payload, twice (the
    write-ahead log and the segment), with payload indexes."""
    return 2 * (points * (4 * dim + 512) + 2 * text_chars)


KIND_STAMP = "stamp"
STAMP_ID = str(uuid5(NAMESPACE, "collection-stamp"))
"""The id of the point that records a collection's embedder and chunking."""


@dataclass(frozen=True, slots=True)
class CollectionStamp:
    """What a collection is written with: the embedder (model, dimension), the chunking and
    the search config (a stamp written before search configs existed reads as ``DENSE_ONLY``).

    A run with another embedder, chunking or sparse index (``SearchConfig.index_key``) is
    refused, never mixed into the collection; the rest of the search config (mode between
    sparse and hybrid, RRF, the per-source cap) is the last ingest's and may change.
    """

    embedder: EmbedderId
    chunking: ChunkingConfig
    search: SearchConfig = DENSE_ONLY

    def payload(self) -> dict[str, object]:
        return {
            "kind": KIND_STAMP,
            "embedder_model": self.embedder.model,
            "embedder_dim": self.embedder.dim,
            "chunk_chars": self.chunking.max_chars,
            "chunk_overlap": self.chunking.overlap,
            "search": self.search.to_data(),
        }

    def fits(self, other: CollectionStamp) -> bool:
        """Whether a run stamped ``other`` may write into a collection stamped ``self``."""
        return (
            self.embedder == other.embedder
            and self.chunking == other.chunking
            and self.search.index_key() == other.search.index_key()
        )

    @staticmethod
    def from_payload(payload: Mapping[str, object]) -> CollectionStamp | None:
        model, dim = payload.get("embedder_model"), payload.get("embedder_dim")
        chars, overlap = payload.get("chunk_chars"), payload.get("chunk_overlap")
        if payload.get("kind") != KIND_STAMP or not isinstance(model, str):
            return None
        if not (isinstance(dim, int) and isinstance(chars, int) and isinstance(overlap, int)):
            return None
        try:
            search = (
                SearchConfig.from_data(payload["search"]) if "search" in payload else DENSE_ONLY
            )
            return CollectionStamp(EmbedderId(model, dim), ChunkingConfig(chars, overlap), search)
        except ValueError:
            return None

    def describe(self) -> str:
        c = self.chunking
        chunks = f"chunks {c.max_chars}/{c.overlap}"
        return f"embedder {self.embedder}, {chunks}, {self.search.describe()}"


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    """An existing collection: its stamp (``None`` when written before stamps) and dimension
    (``None`` when unknown)."""

    stamp: CollectionStamp | None
    dim: int | None


def stamp_conflict(
    collection: str,
    info: CollectionInfo,
    want: CollectionStamp,
    commits: Iterable[CommitRecord] = (),
    *,
    check_chunking: bool = True,
) -> str | None:
    """Why a run stamped ``want`` may not use the collection (one line naming both and the
    fix), or ``None``. Without a stamp, the commit markers' embedder is checked instead."""
    fix = "use another --collection, or the embedder (and spec) it was written with"
    have = info.stamp
    if have is not None:
        same_emb = have.embedder == want.embedder
        if same_emb and (not check_chunking or have.fits(want)):
            return None
        if not check_chunking:
            return (
                f"collection {collection!r} holds vectors of embedder {have.embedder}, "
                f"this run uses {want.embedder}: {fix}"
            )
        if same_emb and have.chunking == want.chunking:
            return (
                f"collection {collection!r} was written for {have.search.describe()}, this "
                f"run's spec asks {want.search.describe()} (a collection's sparse vectors are "
                f"fixed when it is made): drop it (funcpipe-rag collection drop {collection} "
                "--yes) and ingest again, or use another --collection"
            )
        return (
            f"collection {collection!r} was written with {have.describe()}, "
            f"this run uses {want.describe()}: {fix}"
        )
    if info.dim is not None and info.dim != want.embedder.dim:
        return (
            f"collection {collection!r} has dimension {info.dim}, "
            f"this run's embedder {want.embedder} makes {want.embedder.dim}: {fix}"
        )
    others = sorted({c.embedder for c in commits} - {str(want.embedder)})
    if others:
        return (
            f"collection {collection!r} holds vectors of embedder {others[0]}, "
            f"this run uses {want.embedder}: {fix}"
        )
    return None


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the store holds for one source: its commit marker and its chunk points."""

    commit: CommitRecord | None = None
    chunks: tuple[ChunkRecord, ...] = ()

    @property
    def is_empty(self) -> bool:
        return self.commit is None and not self.chunks


@dataclass(frozen=True, slots=True)
class SourcePlan:
    """The writes for one source, to run in this order: embed+upsert, rewrite, delete, commit.

    ``rewrite`` holds points whose id exists (content unchanged) but whose payload changed:
    their stored vector is reused. ``delete_commit`` removes the marker last (pruned sources).
    """

    source: str
    action: Action
    embed: tuple[ChunkRecord, ...] = ()
    rewrite: tuple[ChunkRecord, ...] = ()
    delete: tuple[str, ...] = ()
    commit: CommitRecord | None = None
    delete_commit: str | None = None

    @property
    def is_noop(self) -> bool:
        return not (self.embed or self.rewrite or self.delete or self.commit or self.delete_commit)


def desired_records(doc: Document, ctx: SyncContext) -> tuple[ChunkRecord, ...]:
    """The chunk points a clean run writes for ``doc``. A chunk's hash covers what is
    embedded (``ChunkRecord.indexed_text``: its context line and text), so a chunk whose
    heading changed gets a new id and a new vector."""
    emb = str(ctx.embedder)
    out: list[ChunkRecord] = []
    for c in chunk_document(doc, ctx.chunking):
        context = context_line(c.title, c.headings)
        h = chunk_hash(f"{context}\n\n{c.text}") if context else c.chunk_hash
        out.append(
            ChunkRecord(
                point_id(c.source, h, ctx.embedder, c.occurrence),
                c.source,
                c.doc_version,
                h,
                c.occurrence,
                c.start,
                c.end,
                c.text,
                emb,
                ctx.spec_hash,
                c.title,
                c.headings,
                locate(doc.marks, c.start, c.end),
            )
        )
    return tuple(out)


def commit_for(
    source: str,
    version: str,
    records: Sequence[ChunkRecord],
    ctx: SyncContext,
    raw_hash: str = "",
) -> CommitRecord:
    """The commit marker that records ``source`` complete at ``version``."""
    ids = [r.id for r in records]
    return CommitRecord(
        commit_id(source),
        source,
        version,
        str(ctx.embedder),
        ctx.spec_hash,
        len(ids),
        chunk_set_hash(ids),
        raw_hash,
    )


def is_current(doc: Document, commit: CommitRecord | None, ctx: SyncContext) -> bool:
    """True when the marker says ``doc`` is already stored by this embedder and spec.

    The marker is written only after all of a source's points, so a current marker means the
    source needs nothing (the fast path: no chunk is read, chunked or embedded).
    """
    return (
        commit is not None
        and commit.doc_version == doc.version
        and commit.embedder == str(ctx.embedder)
        and commit.spec_hash == ctx.spec_hash
    )


def plan_source(
    source: str,
    desired: tuple[ChunkRecord, ...] | None,
    version: str,
    state: SourceState,
    ctx: SyncContext,
    raw_hash: str = "",
) -> SourcePlan:
    """Plan one source: ``desired`` is its new chunk points, or ``None`` to delete it."""
    if desired is None:
        if state.is_empty:
            return SourcePlan(source, "unchanged")
        return SourcePlan(
            source,
            "deleted",
            delete=tuple(sorted(r.id for r in state.chunks)),
            delete_commit=state.commit.id if state.commit else None,
        )
    existing = {r.id: r for r in state.chunks}
    wanted = {r.id for r in desired}
    embed = tuple(r for r in desired if r.id not in existing)
    rewrite = tuple(r for r in desired if r.id in existing and existing[r.id] != r)
    delete = tuple(sorted(i for i in existing if i not in wanted))
    marker = commit_for(source, version, desired, ctx, raw_hash)
    commit = None if state.commit == marker else marker
    plan = SourcePlan(source, "updated", embed, rewrite, delete, commit)
    if state.commit is None:
        return SourcePlan(source, "added", embed, rewrite, delete, commit)
    return plan if not plan.is_noop else SourcePlan(source, "unchanged")


def plan_document(doc: Document, state: SourceState, ctx: SyncContext) -> SourcePlan:
    """Plan one parsed document against everything the store holds for it."""
    return plan_source(doc.source, desired_records(doc, ctx), doc.version, state, ctx, doc.raw_hash)


def prune_candidates(
    stored_sources: Iterable[str],
    seen: Iterable[str],
    roots: Sequence[str],
    protected: Iterable[str] = (),
) -> list[str]:
    """Stored sources under ``roots`` that were not seen and are not protected (sorted).

    ``protected`` holds the keys of everything that failed in this run: a source, a file, a
    folder or a root that failed to list or is missing. Everything under a protected key is
    kept (``key_is_under``): only a file known to be gone is pruned, never one that could not
    be looked at.
    """
    seen_set, prot = set(seen), set(protected)

    def is_protected(s: str) -> bool:
        return s in prot or any(key_is_under(s, p) for p in prot)

    return sorted(
        s
        for s in set(stored_sources)
        if s not in seen_set and not is_protected(s) and any(key_is_under(s, r) for r in roots)
    )


def apply_plan(store: Mapping[str, StoredRecord], plan: SourcePlan) -> dict[str, StoredRecord]:
    """The store after ``plan`` ran to the end (the reference model of the protocol)."""
    out = dict(store)
    for r in (*plan.embed, *plan.rewrite):
        out[r.id] = r
    for i in plan.delete:
        out.pop(i, None)
    if plan.commit is not None:
        out[plan.commit.id] = plan.commit
    if plan.delete_commit is not None:
        out.pop(plan.delete_commit, None)
    return out


def plan_steps(plan: SourcePlan) -> list[tuple[str, str, StoredRecord | None]]:
    """The plan's single-point writes in protocol order: ``(op, id, record)``, op upsert|delete.

    A crash may stop a run after any prefix of these steps.
    """
    steps: list[tuple[str, str, StoredRecord | None]] = [
        ("upsert", r.id, r) for r in (*plan.embed, *plan.rewrite)
    ]
    steps += [("delete", i, None) for i in plan.delete]
    if plan.commit is not None:
        steps.append(("upsert", plan.commit.id, plan.commit))
    if plan.delete_commit is not None:
        steps.append(("delete", plan.delete_commit, None))
    return steps


def state_of(store: Mapping[str, StoredRecord], source: str) -> SourceState:
    """The ``SourceState`` of ``source`` in a store given as id -> record."""
    commit: CommitRecord | None = None
    chunks: list[ChunkRecord] = []
    for rec in store.values():
        if rec.source != source:
            continue
        if isinstance(rec, CommitRecord):
            commit = rec
        else:
            chunks.append(rec)
    return SourceState(commit, tuple(sorted(chunks, key=lambda r: r.id)))
