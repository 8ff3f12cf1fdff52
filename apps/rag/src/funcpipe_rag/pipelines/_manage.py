"""Descriptions of the management operations over one collection: list its sources, delete
sources by key or glob through the ingestion protocol."""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from funcpipe_rag.domain import (
    ChunkingConfig,
    ChunkRecord,
    CommitRecord,
    EmbedderId,
    SourceState,
    StoredRecord,
    SyncContext,
    VectorIndex,
    plan_source,
)

from ._settings import ONCE, Retrying
from ._types import STAGE_STORE, Outcome, Ready, SourceError
from ._write import write_group

GLOB_CHARS = frozenset("*?[")


def is_glob(pattern: str) -> bool:
    """A SOURCE argument with ``*``, ``?`` or ``[`` is a glob over keys (fnmatch, ``*`` crosses
    ``/``); any other is a key."""
    return any(c in GLOB_CHARS for c in pattern)


def match_sources(
    known: Iterable[str], patterns: Sequence[str], *, exact: bool = False
) -> tuple[list[str], list[str]]:
    """``(sorted keys matched by any pattern, patterns that matched nothing)``.

    A pattern equal to a known key matches that key (even when it has glob characters); else a
    glob pattern matches every key ``fnmatch.fnmatchcase`` accepts. With ``exact`` a pattern
    matches only the key equal to it (a retry can never widen into a glob).
    """
    keys = set(known)
    hit: set[str] = set()
    unmatched: list[str] = []
    for p in patterns:
        if p in keys:
            hit.add(p)
            continue
        found = {k for k in keys if not exact and is_glob(p) and fnmatch.fnmatchcase(k, p)}
        if not found:
            unmatched.append(p)
        hit |= found
    return sorted(hit), unmatched


def group_by_source(
    records: Iterable[StoredRecord],
) -> Mapping[str, tuple[CommitRecord | None, tuple[ChunkRecord, ...]]]:
    """Every source the collection holds anything of (committed or not): its marker and
    chunk points."""
    commits: dict[str, CommitRecord] = {}
    chunks: dict[str, list[ChunkRecord]] = defaultdict(list)
    for r in records:
        if isinstance(r, CommitRecord):
            commits[r.source] = r
        else:
            chunks[r.source].append(r)
    keys = sorted(set(commits) | set(chunks))
    return {k: (commits.get(k), tuple(chunks.get(k, ()))) for k in keys}


@dataclass(frozen=True, slots=True)
class Deleted:
    """What ``delete_sources`` did: per source an outcome (action ``deleted``) or an error;
    ``unmatched`` patterns matched no stored source."""

    outcomes: tuple[Outcome, ...]
    errors: tuple[SourceError, ...]
    unmatched: tuple[str, ...]


def _store(e: ErrInfo) -> Err[ErrInfo]:
    return Err(ErrInfo(e.code, e.msg, STAGE_STORE, e.path, e.cause, e.ctx))


def delete_sources(
    index: VectorIndex,
    patterns: Sequence[str],
    *,
    store_calls: Retrying = ONCE,
    batch: int = 256,
    dry_run: bool = False,
    exact: bool = False,
) -> AsyncPlan[Deleted]:
    """Delete every stored source a pattern names (a key or a glob, see ``match_sources``;
    with ``exact`` keys only). ``dry_run`` lists what would go and changes nothing.

    Each source goes by the protocol: its chunk points first, its commit marker last, so a
    crash mid-delete leaves a source that the next ``delete`` (or ``verify --repair``) finishes:
    a source with chunks but no marker is still found and matched. One failing source never
    stops the others (its ``SourceError`` is listed). A collection that does not exist ->
    every pattern unmatched. ``Err`` only when the collection cannot be read.
    """

    async def _run() -> Result[Deleted, ErrInfo]:
        info = await index.info()()
        if isinstance(info, Err):
            return _store(info.error)
        if info.value is None:
            return Ok(Deleted((), (), tuple(patterns)))
        scanned = await index.scan()()
        if isinstance(scanned, Err):
            return _store(scanned.error)
        held = group_by_source(scanned.value[0])
        keys, unmatched = match_sources(held, patterns, exact=exact)
        stamp = info.value.stamp
        emb = stamp.embedder if stamp else EmbedderId("?", info.value.dim or 1)
        ctx = SyncContext(emb, "", stamp.chunking if stamp else ChunkingConfig())
        outcomes: list[Outcome] = []
        errors: list[SourceError] = []
        for key in keys:
            commit, chunks = held[key]
            plan = plan_source(key, None, "", SourceState(commit, chunks), ctx)
            if not dry_run:
                done = await write_group(index, [Ready(plan, ())], batch, store_calls)()
                if isinstance(done, Err):
                    e = done.error
                    errors.append(SourceError(key, e.code, e.msg, True))
                    continue
            outcomes.append(Outcome.of(plan))
        return Ok(Deleted(tuple(outcomes), tuple(errors), tuple(unmatched)))

    return _run


def not_found(pattern: str) -> SourceError:
    """The error listed for a pattern that matched no stored source."""
    what = "glob" if is_glob(pattern) else "source"
    return SourceError(
        pattern, codes.NOT_FOUND, f"no stored {what} matches {pattern!r}; see `sources`"
    )
