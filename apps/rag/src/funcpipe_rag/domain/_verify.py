"""Pure verification of the store's invariants, and the repair that makes them hold.

Problem codes: ORPHAN (chunk points of a source that was never committed), HALF_WRITTEN (a
committed source whose points do not match its version), DUPLICATE (two points for the same
chunk of one source), CORRUPT (a point whose payload is not one of ours).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from ._identity import chunk_set_hash
from ._types import ChunkRecord, CommitRecord, StoredRecord

ORPHAN = "ORPHAN"
HALF_WRITTEN = "HALF_WRITTEN"
DUPLICATE = "DUPLICATE"
CORRUPT = "CORRUPT"


@dataclass(frozen=True, slots=True)
class Problem:
    source: str
    code: str
    msg: str

    def to_json(self) -> dict[str, str]:
        return {"source": self.source, "code": self.code, "msg": self.msg}


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Committed sources, points seen, problems found and the ids a repair deletes."""

    sources: int
    points: int
    problems: tuple[Problem, ...]
    repair_deletes: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class VerifyOutcome:
    """What ``verify`` reports: the check, and with a repair what was found and removed
    (``found``) beside the state after it (``final``)."""

    final: VerifyReport
    found: VerifyReport | None = None
    """``None`` when no repair was asked."""

    def to_json(self) -> dict[str, object]:
        """``verify --json``; with ``--repair``, ``repaired`` and ``removed`` too."""
        doc: dict[str, object] = {
            "ok": self.final.ok,
            "sources": self.final.sources,
            "points": self.final.points,
            "problems": [p.to_json() for p in self.final.problems],
        }
        if self.found is not None:
            doc["repaired"] = [p.to_json() for p in self.found.problems]
            doc["removed"] = list(self.found.repair_deletes)
        return doc


def verify_records(
    records: Iterable[StoredRecord], corrupt_ids: Iterable[str] = ()
) -> VerifyReport:
    """Check every invariant over all stored records; say what a repair must delete."""
    commits: dict[str, CommitRecord] = {}
    chunks: dict[str, list[ChunkRecord]] = defaultdict(list)
    points = 0
    for rec in records:
        points += 1
        if isinstance(rec, CommitRecord):
            commits[rec.source] = rec
        else:
            chunks[rec.source].append(rec)
    bad = sorted(corrupt_ids)
    problems: list[Problem] = [
        Problem(i, CORRUPT, "point payload is not a funcpipe-rag record") for i in bad
    ]
    points += len(bad)
    deletes: list[str] = list(bad)
    for source in sorted(set(commits) | set(chunks)):
        commit, recs = commits.get(source), chunks.get(source, [])
        keys = [(r.chunk_hash, r.occurrence, r.doc_version) for r in recs]
        if len(set(keys)) != len(keys):
            problems.append(Problem(source, DUPLICATE, "the same chunk is stored more than once"))
        if commit is None:
            problems.append(
                Problem(source, ORPHAN, f"{len(recs)} chunk point(s) of a never-committed source")
            )
            deletes += [r.id for r in recs]
            continue
        current = [r for r in recs if r.doc_version == commit.doc_version]
        stale = [r for r in recs if r.doc_version != commit.doc_version]
        ids = [r.id for r in current]
        matches = len(ids) == commit.chunk_count and chunk_set_hash(ids) == commit.chunk_set_hash
        if stale or not matches:
            why = f"{len(stale)} stale point(s)" if stale else ""
            if not matches:
                why = (why + "; " if why else "") + (
                    f"{len(ids)} current point(s) where the commit records {commit.chunk_count}"
                    if len(ids) != commit.chunk_count
                    else "the current points differ from the committed set"
                )
            problems.append(Problem(source, HALF_WRITTEN, why))
            deletes += [r.id for r in stale]
            if not matches:
                deletes += [r.id for r in current] + [commit.id]
    return VerifyReport(len(commits), points, tuple(problems), tuple(deletes))
