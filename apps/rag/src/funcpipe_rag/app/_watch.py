"""``watch``: the collection follows folders (rag-app.md, watch).

One reconcile first (exactly an ``ingest`` of the roots, with ``--prune`` when asked), then
file-system events: each changed path waits out its settle window (``Pending``), and the
settled paths of a moment are one batch through the existing protocol: an ingest of the
changed files (an unchanged file costs a read and a hash: its commit marker names its raw
text; moved content reuses its stored vectors), then, with ``prune``, the deletion of the
sources whose file is confirmed gone (missing, and its folder lists cleanly without it).
Events that arrive during a batch are coalesced for the next one; past ``limit`` distinct
paths the next batch is a full reconcile. ``rescan`` seconds: a full reconcile every so often
catches anything events missed.

Errors: a failure to start (bad spec, store, embedder) is the ``Err`` returned; a batch that
fails is reported (``Batch.failed``) and its paths are tried again after a backoff (doubling
from the settle window up to ``MAX_BACKOFF``); the watch goes on (a later batch or reconcile
converges). Cancellation: ``stop`` ends the watch after the batch running (a safe point); a
cancelled task stops inside a batch like a cancelled ingest (a re-run converges).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pathspec
from funcpipe.result import Err, ErrInfo, Ok, Result
from funcpipe.streams import AsyncGen

from funcpipe_rag.adapters import EmbedderPort, Filters
from funcpipe_rag.adapters._sources import source_key, supported_file
from funcpipe_rag.adapters._watcher import changed_paths, files_under, is_hidden, kind_of_path
from funcpipe_rag.domain import VectorIndex
from funcpipe_rag.domain._watch_plan import DEFAULT_LIMIT, DEFAULT_SETTLE, Pending
from funcpipe_rag.pipelines import DEFAULT_SETTINGS, IngestEvent, IngestReport, IngestSettings
from funcpipe_rag.pipelines._manage import delete_sources

from ._backends import Backends, open_backends
from ._ingest import events_on, key_base_of
from ._settings import Settings, collection_for

MAX_BACKOFF = 30.0
"""The longest wait before a failed batch's paths are tried again (seconds)."""

Specs = tuple[pathspec.GitIgnoreSpec | None, pathspec.GitIgnoreSpec | None]


@dataclass(frozen=True, slots=True)
class WatchOptions:
    """What to follow and how: the roots (folders or files), ``--prune``, ``--poll``,
    ``--rescan`` seconds (``None``: never), the settle window, the pending bound, the
    include/exclude patterns and the key base (default: the settings')."""

    roots: tuple[str, ...]
    prune: bool = False
    poll: bool = False
    rescan: float | None = None
    settle: float = DEFAULT_SETTLE
    limit: int = DEFAULT_LIMIT
    filters: Filters | None = None
    base: Path | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """One applied batch (``kind``: ``reconcile`` or ``changes``): sources changed by action,
    chunks embedded and reused, per-source errors, the lag from its first event to applied
    (``None`` for a reconcile), and ``failed`` (a run-level error's line)."""

    kind: str
    added: int = 0
    updated: int = 0
    deleted: int = 0
    embedded: int = 0
    reused: int = 0
    errors: int = 0
    lag: float | None = None
    failed: str = ""

    @property
    def changed(self) -> int:
        return self.added + self.updated + self.deleted

    def line(self) -> str:
        lag = "" if self.lag is None else f", lag {self.lag:.1f}s"
        fail = f", failed: {self.failed}" if self.failed else ""
        return (
            f"{self.kind}: {self.changed} sources changed (+{self.added} ~{self.updated} "
            f"-{self.deleted}), {self.embedded} chunks embedded, {self.reused} reused, "
            f"{self.errors} errors{lag}{fail}"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "sources_added": self.added,
            "sources_updated": self.updated,
            "sources_deleted": self.deleted,
            "chunks_embedded": self.embedded,
            "chunks_reused": self.reused,
            "errors": self.errors,
            "lag_s": None if self.lag is None else round(self.lag, 3),
            "failed": self.failed or None,
        }


def _batch(kind: str, r: IngestReport, lag: float | None = None) -> Batch:
    return Batch(
        kind,
        r.sources_added,
        r.sources_updated,
        r.sources_deleted,
        r.chunks_embedded,
        r.chunks_reused,
        len(r.errors),
        lag,
    )


async def _fold(events: AsyncGen[IngestEvent], report: IngestReport) -> Result[None, ErrInfo]:
    it: AsyncIterator[Result[IngestEvent, ErrInfo]] = events()
    async for item in it:
        if isinstance(item, Err):
            return item
        report.apply(item.value)
    return Ok(None)


def _glob_escape(key: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in key)


class _Tree:
    """The watched roots: which changed paths matter, and their files."""

    def __init__(self, roots: Sequence[str], specs: Specs, ignore: Sequence[str]) -> None:
        self.roots = [os.path.abspath(r) for r in roots]
        self.specs = specs
        self.ignore = [os.path.abspath(p) for p in ignore]

    def _rel(self, path: str) -> str | None:
        for root in self.roots:
            if path == root:
                return ""
            if path.startswith(root.rstrip("/") + "/"):
                return path[len(root.rstrip("/")) + 1 :]
        return None

    def relevant(self, path: str) -> bool:
        """Under a root, not hidden, not in the store's own folder."""
        rel = self._rel(path)
        if rel is None or is_hidden(rel):
            return False
        return not any(path == i or path.startswith(i.rstrip("/") + "/") for i in self.ignore)

    def wanted_file(self, path: str) -> bool:
        """A file the walk of its root would take (supported, included, not excluded)."""
        rel = self._rel(path)
        if rel is None or not self.relevant(path) or not supported_file(os.path.basename(path)):
            return False
        inc, exc = self.specs
        if rel and inc is not None and not inc.match_file(rel):
            return False
        return not (rel and exc is not None and exc.match_file(rel))


async def run_watch(
    settings: Settings,
    opts: WatchOptions,
    stop: asyncio.Event,
    say: Callable[[Batch], None],
    *,
    spec: IngestSettings = DEFAULT_SETTINGS,
    warn: Callable[[str], None] = lambda _: None,
    embedder: EmbedderPort | None = None,
    clock: Callable[[], float] = time.monotonic,
    opened: Callable[[VectorIndex], None] = lambda _: None,
) -> Result[int, ErrInfo]:
    """Reconcile, then follow the roots until ``stop`` is set: ``Ok(batches applied)``.

    The store stays open for the whole watch (a local store's collection cannot be opened by
    another process meanwhile); ``opened`` gets its index once open (a host that also
    answers searches, or a test, reads through it)."""
    checked = (opts.filters or Filters()).check()
    if isinstance(checked, Err):
        return checked
    base = opts.base.absolute() if opts.base is not None else key_base_of(settings)
    async with open_backends(settings, collection_for(settings, spec), embedder=embedder) as b:
        if isinstance(b, Err):
            return b
        opened(b.value.index)
        w = _Watch(b.value, settings, spec, opts, base, checked.value, say, warn, clock)
        return await w.run(stop)


class _Watch:
    def __init__(
        self,
        b: Backends,
        settings: Settings,
        spec: IngestSettings,
        opts: WatchOptions,
        base: Path | None,
        specs: Specs,
        say: Callable[[Batch], None],
        warn: Callable[[str], None],
        clock: Callable[[], float],
    ) -> None:
        self.b, self.settings, self.spec, self.opts, self.base = b, settings, spec, opts, base
        store_dirs = [str(settings.data_dir)] + (
            [str(settings.qdrant_path)] if settings.qdrant_path else []
        )
        self.tree = _Tree(opts.roots, specs, store_dirs)
        self.say, self.warn, self.clock = say, warn, clock
        self.pending = Pending(opts.settle, opts.limit)
        self.wake = asyncio.Event()
        self.backoff = 0.0

    def _ingest(self, roots: Sequence[str], prune: bool) -> AsyncGen[IngestEvent]:
        return events_on(
            self.b,
            self.settings,
            self.spec,
            roots,
            prune=prune,
            base=self.base,
            filters=self.opts.filters,
        )

    async def reconcile(self) -> Result[Batch, ErrInfo]:
        report = IngestReport()
        done = await _fold(self._ingest(self.opts.roots, self.opts.prune), report)
        if isinstance(done, Err):
            return done
        return Ok(_batch("reconcile", report))

    async def apply(self, paths: Sequence[str], first: float) -> Batch:
        files: set[str] = set()
        gone: list[str] = []
        for p in paths:
            kind = await asyncio.to_thread(kind_of_path, p)
            if kind == "file" and self.tree.wanted_file(p):
                files.add(p)
            elif kind == "dir":
                found = await asyncio.to_thread(files_under, p)
                files.update(f for f in found if self.tree.wanted_file(f))
            elif kind == "gone":
                gone.append(p)
        report = IngestReport()
        failed = ""
        if files:  # new content first: a moved file reuses the vectors its old key holds
            done = await _fold(self._ingest(sorted(files), False), report)
            failed = done.error.msg if isinstance(done, Err) else ""
        if gone and self.opts.prune and not failed:
            keys = [source_key(p, self.base) for p in gone]
            patterns = [q for k in keys for q in (_glob_escape(k), _glob_escape(k) + "/*")]
            d = await delete_sources(
                self.b.index,
                patterns,
                store_calls=self.spec.store_calls(),
                batch=self.spec.upsert_batch,
            )()
            if isinstance(d, Err):
                failed = d.error.msg
            else:
                for o in d.value.outcomes:
                    report.add(o)
                report.errors.extend(d.value.errors)
        return replace(_batch("changes", report, self.clock() - first), failed=failed)

    def _retry(self, paths: Sequence[str]) -> None:
        """Touch a failed batch's paths again, after a doubling backoff (reset by a success)."""
        if not paths:
            self.backoff = 0.0
            return
        self.backoff = min(MAX_BACKOFF, max(self.opts.settle, 2 * self.backoff))
        later = self.clock() + self.backoff - self.opts.settle
        for p in paths:
            self.pending.touch(p, later)

    async def _follow(self, stop: asyncio.Event) -> None:
        async for paths in changed_paths(
            self.tree.roots, stop, poll=self.opts.poll, warn=self.warn
        ):
            now = self.clock()
            for p in paths:
                if self.tree.relevant(p):
                    self.pending.touch(p, now)
            self.wake.set()

    async def run(self, stop: asyncio.Event) -> Result[int, ErrInfo]:
        first = await self.reconcile()
        if isinstance(first, Err):
            return first
        self.say(first.value)
        applied = 1
        follower = asyncio.create_task(self._follow(stop))
        stopped = asyncio.create_task(stop.wait())
        last_scan = self.clock()
        try:
            while not stop.is_set():
                now = self.clock()
                waits = [self.pending.due(now)]
                if self.opts.rescan is not None:
                    waits.append(max(0.0, last_scan + self.opts.rescan - now))
                timeout = min((w for w in waits if w is not None), default=None)
                if timeout is None or timeout > 0:
                    self.wake.clear()
                    woke = asyncio.create_task(self.wake.wait())
                    await asyncio.wait(
                        [woke, stopped, follower], timeout=timeout, return_when="FIRST_COMPLETED"
                    )
                    woke.cancel()
                    if follower.done() and not stop.is_set():
                        self.warn("the file watcher ended; watch stops")
                        break
                    continue
                now = self.clock()
                ready, since, overflowed = self.pending.take(now)
                rescan = self.opts.rescan is not None and now - last_scan >= self.opts.rescan
                if overflowed or rescan:
                    last_scan = now
                    done = await self.reconcile()
                    if isinstance(done, Err):
                        self.say(Batch("reconcile", failed=done.error.msg))
                    else:
                        self.say(done.value)
                    applied += 1
                elif ready and since is not None:
                    batch = await self.apply(ready, since)
                    self.say(batch)
                    self._retry(ready if batch.failed else [])
                    applied += 1
        finally:
            stopped.cancel()
            follower.cancel()
            await asyncio.gather(follower, stopped, return_exceptions=True)
        return Ok(applied)
