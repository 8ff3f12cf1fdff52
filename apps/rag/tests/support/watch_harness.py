"""The ``watch`` test harness: a watch task in process over a real tree, a loopback
embedder, and waits on conditions with a generous bound (never a timing assert)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from funcpipe.result import Ok
from funcpipe.testing.embeddings_server import EmbeddingsServer
from funcpipe_rag.app import Settings, run_ingest
from funcpipe_rag.app._watch import Batch, WatchOptions, run_watch
from funcpipe_rag.domain import VectorIndex
from funcpipe_rag.pipelines import DEFAULT_SETTINGS, verify
from rag_doubles import HashEmbedder, stored

DIM = 16
BOUND = 60.0
"""Seconds a condition may take on a loaded machine before the test fails."""
SETTLE = 0.2


def embed_fn(texts: list[str]) -> list[list[float]]:
    hasher = HashEmbedder(DIM)
    return [hasher.vector(t) or [1.0] + [0.0] * (DIM - 1) for t in texts]


def settings(tmp: Path, server: EmbeddingsServer, collection: str) -> Settings:
    return Settings.model_construct(
        data_dir=tmp / "data",
        collection=collection,
        embed_url=server.base_url,
        embed_model=server.model,
        embed_dim=DIM,
    )


def page(i: int, tag: str = "") -> str:
    body = "\n\n".join(f"Line {j} of page {i}{tag} tells {i * j + 1} facts." for j in range(30))
    return f"# Page {i}{tag}\n\n{body}\n"


def write_pages(root: Path, n: int, tag: str = "") -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"p{i:02d}.md").write_text(page(i, tag))


class Harness:
    """A watch task over ``tmp/docs`` (store in ``tmp/data``, a sibling of the tree)."""

    def __init__(self, tmp: Path, server: EmbeddingsServer, *, prune: bool = True) -> None:
        self.tmp, self.server = tmp, server
        self.docs = tmp / "docs"
        self.s = settings(tmp, server, "watched")
        self.opts = WatchOptions((str(self.docs),), prune=prune, settle=SETTLE, base=tmp)
        self.stop = asyncio.Event()
        self.batches: list[Batch] = []
        self.warnings: list[str] = []
        self.task: asyncio.Task[object] | None = None
        self.index: VectorIndex | None = None

    def _opened(self, index: VectorIndex) -> None:
        self.index = index

    async def points(self) -> dict[str, object]:
        """The watched collection's points, read through the watch's own open store."""
        assert self.index is not None
        got = await self.index.scan()()
        assert isinstance(got, Ok), got
        return {r.id: r for r in got.value[0]}

    async def start(self) -> None:
        self.task = asyncio.create_task(
            run_watch(
                self.s,
                self.opts,
                self.stop,
                self.batches.append,
                warn=self.warnings.append,
                opened=self._opened,
            )
        )
        await until(lambda: bool(self.batches), "the first reconcile")
        # the watcher is up once a probe file's batch is applied
        probe = self.docs / "probe.md"
        probe.write_text("# Probe\n\nThe watcher sees this.\n")
        await until(lambda: self.changes() >= 1, "the probe's batch")
        probe.unlink()
        await until(lambda: self.changes() >= 2, "the probe's removal")

    def changes(self) -> int:
        return sum(1 for b in self.batches if b.kind == "changes" and b.changed)

    async def finish(self) -> object:
        self.stop.set()
        assert self.task is not None
        res = await asyncio.wait_for(self.task, BOUND)
        assert isinstance(res, Ok), res
        return res.value

    async def clean_points(self) -> dict[str, object]:
        """The points of a clean ingest of the current tree (a fresh collection; its own
        embeddings server of the same model, so the watch's requests stay countable)."""
        with EmbeddingsServer(embed_fn, model=self.server.model) as ref:
            clean = settings(self.tmp, ref, f"clean{len(self.batches)}")
            rep = await run_ingest(clean, DEFAULT_SETTINGS, [str(self.docs)], base=self.tmp)
            assert isinstance(rep, Ok), rep
            return await asyncio.to_thread(stored, clean)

    async def converged(self, what: str) -> None:
        """Wait until the watched collection equals a clean ingest of the tree; verify ok."""
        want = await self.clean_points()

        async def same() -> bool:
            return await self.points() == want

        await until_async(same, what)
        assert self.index is not None
        report = await verify(self.index)()
        assert isinstance(report, Ok), report
        assert report.value[0].ok, report


async def until(cond: Callable[[], bool], what: str) -> None:
    async def _c() -> bool:
        return cond()

    await until_async(_c, what)


async def until_async(cond: Callable[[], Awaitable[bool]], what: str) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + BOUND
    while not await cond():
        if loop.time() > end:
            pytest.fail(f"not within {BOUND}s: {what}")
        await asyncio.sleep(0.05)


async def until_any(cond: Callable[[], bool], seconds: float) -> None:
    """Wait for ``cond`` up to ``seconds`` (no assert: the caller retries)."""

    async def _c() -> bool:
        return cond()

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(until_async(_c, "a retried condition"), seconds)


def scenario(tmp: Path, body: Callable[[Harness], Awaitable[None]], *, n: int = 3) -> None:
    write_pages(tmp / "docs", n)

    async def main() -> None:
        with EmbeddingsServer(embed_fn, model="hash-16") as server:
            h = Harness(tmp, server)
            await h.start()
            try:
                await body(h)
            finally:
                await h.finish()

    asyncio.run(main())
