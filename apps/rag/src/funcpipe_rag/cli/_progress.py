"""The ingest progress bar: on a terminal only (never piped, never with ``--json``)."""

from __future__ import annotations

import time

from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from funcpipe_rag.app import IngestEvent, Phase, SourceError, Walked

from ._io import err_console

PHASE_NAMES = {
    "walk": "counting the sources",
    "sync": "ingesting",
    "prune": "pruning removed sources",
    "index": "building the search index",
}


class IngestProgress:
    """A live bar on a terminal: the phase by name, sources done of the total (once the walk
    has counted them), percentage, ETA and rates; nothing when piped."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.t0 = time.monotonic()
        self.sources = self.chunks = self.failed = 0
        self.phase = "walk"
        self.total: int | None = None
        self._progress: Progress | None = None
        self._task = TaskID(0)

    def __enter__(self) -> IngestProgress:
        if self.enabled:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(PHASE_NAMES["walk"], total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    def describe(self) -> str:
        """The bar's text: the phase, then the counts and rates."""
        dt = max(time.monotonic() - self.t0, 1e-6)
        name = PHASE_NAMES.get(self.phase, self.phase)
        if self.phase in ("walk", "index"):
            return name
        of = f"/{self.total}" if self.total is not None else ""
        return (
            f"{name}: {self.sources}{of} sources ({self.sources / dt:.1f}/s), "
            f"{self.chunks} chunks embedded ({self.chunks / dt:.1f}/s), {self.failed} failed"
        )

    def __call__(self, item: IngestEvent) -> None:
        if isinstance(item, Phase):
            self.phase = item.name
        elif isinstance(item, Walked):
            self.total = item.total
        elif isinstance(item, SourceError):
            self.failed += 1
        elif item.action != "deleted":
            self.sources += 1
            self.chunks += item.embedded
        if self._progress is not None:
            done = self.sources + self.failed
            self._progress.update(
                self._task,
                description=self.describe(),
                total=self.total if self.phase == "sync" else None,
                completed=done,
            )
