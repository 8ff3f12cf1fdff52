"""``watch`` (issue 23) with real files, the real watcher (watchfiles) and Qdrant Edge.

Each scenario runs ``run_watch`` in process as an asyncio task with a stop event, changes the
tree, waits (on a condition, with a generous bound; never a timing assert) until the
collection matches a clean ingest of the final tree, then checks ``verify``. Embedding
requests are counted by the loopback embeddings server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from funcpipe.adapters.embeddings_server import EmbeddingsServer
from funcpipe.result import Ok
from funcpipe_rag.app import Settings, run_ingest
from funcpipe_rag.app._watch import Batch, WatchOptions, run_watch
from funcpipe_rag.domain import VectorIndex
from funcpipe_rag.domain._watch_plan import Pending
from funcpipe_rag.pipelines import DEFAULT_SPEC, verify
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
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
            rep = await run_ingest(clean, DEFAULT_SPEC, [str(self.docs)], base=self.tmp)
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


def test_create_edit_append_burst_and_delete(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        (h.docs / "new.md").write_text(page(50))
        await h.converged("a created file")
        (h.docs / "p00.md").write_text(page(0, " edited"))
        await h.converged("an edited file")
        with (h.docs / "p01.md").open("a") as f:
            for k in range(40):  # a burst of appends: read once it settles
                f.write(f"\nAppended line {k}.\n")
                f.flush()
        await h.converged("a burst of appends")
        sent = len(h.server.requests)
        os.utime(h.docs / "p02.md")  # touched, unchanged: costs nothing
        (h.docs / "p01.md").unlink()
        await h.converged("a deleted file")
        assert len(h.server.requests) == sent

    scenario(tmp_path, body)


def test_atomic_save_and_a_file_growing_while_copied(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        tmp = h.docs / ".p00.md.swp"
        tmp.write_text(page(0, " saved"))
        tmp.replace(h.docs / "p00.md")  # an editor's atomic save
        await h.converged("an atomic save")
        grown = h.docs / "big.md"
        with grown.open("w") as f:  # a file still being copied, in pieces
            for k in range(20):
                f.write(page(100 + k))
                f.flush()
                await asyncio.sleep(SETTLE / 4)
        await h.converged("a file that grew while copied")
        assert not any(b.errors for b in h.batches)

    scenario(tmp_path, body)


def test_moves_and_a_renamed_folder_cost_no_embedding(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        write_pages(h.docs / "guide", 4, " guide")
        await h.converged("a folder created")
        sent = len(h.server.requests)
        (h.docs / "guide").rename(h.docs / "manual")  # rename a folder: 0 embeddings
        await h.converged("a renamed folder")
        (h.docs / "p00.md").rename(h.docs / "manual" / "moved.md")  # move within the tree
        await h.converged("a move within the tree")
        assert len(h.server.requests) == sent
        assert sum(b.reused for b in h.batches) > 0
        shutil.move(str(h.docs / "p01.md"), str(h.tmp / "outside.md"))  # out of the tree
        await h.converged("a move out of the tree")

    scenario(tmp_path, body)


def test_a_git_checkout_of_another_branch_is_followed(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_pages(docs, 3)

    def git(*args: str) -> None:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        }
        subprocess.run(["git", *args], cwd=docs, check=True, capture_output=True, env=env)

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-qm", "main")
    git("checkout", "-qb", "other")
    (docs / "p00.md").unlink()
    write_pages(docs / "more", 30, " other")
    (docs / "p01.md").write_text(page(1, " other"))
    git("add", "-A")
    git("commit", "-qm", "other")
    git("checkout", "-q", "main")

    async def body(h: Harness) -> None:
        before = h.changes()
        git("checkout", "-q", "other")
        await h.converged("a checkout of another branch")
        assert h.changes() - before <= 3  # a burst is a batch or a few, never one per file
        git("checkout", "-q", "main")
        await h.converged("a checkout back")

    async def main() -> None:
        with EmbeddingsServer(embed_fn, model="hash-16") as server:
            h = Harness(tmp_path, server)
            await h.start()
            try:
                await body(h)
            finally:
                await h.finish()

    asyncio.run(main())


def test_polling_is_announced_and_follows_the_folder(tmp_path: Path) -> None:
    write_pages(tmp_path / "docs", 1)

    async def main() -> None:
        with EmbeddingsServer(embed_fn, model="hash-16") as server:
            h = Harness(tmp_path, server)
            h.opts = WatchOptions(
                (str(h.docs),), prune=True, poll=True, settle=SETTLE, base=tmp_path
            )
            await h.start()
            try:
                assert any("--poll" in w for w in h.warnings), h.warnings
                (h.docs / "polled.md").write_text(page(7))
                await h.converged("a file created, seen by polling")
            finally:
                await h.finish()

    asyncio.run(main())


# -- the settle state (pure) ---------------------------------------------------------------

Touch = tuple[int, int]  # (path index, time step)


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3)), max_size=40), st.integers(1, 8))
def test_every_touched_path_is_taken_once_after_it_settles(
    touches: list[Touch], limit: int
) -> None:
    p = Pending(settle=2.0, limit=limit)
    now = 0.0
    last: dict[str, float] = {}
    taken: list[str] = []
    overflowed = False
    for path, step in touches:
        now += step
        ready, _, over = p.take(now)
        overflowed |= over
        for r in ready:
            assert now - last[r] >= 2.0  # never before its window passed
        taken += ready
        p.touch(f"f{path}", now)
        last[f"f{path}"] = now
        assert len(p) <= limit
    ready, _, over = p.take(now + 2.0)
    taken += ready
    overflowed |= over
    if not overflowed:
        assert set(taken) == set(last)  # nothing lost
        assert p.due(now + 10) is None


# -- the command: a line per batch, SIGINT stops it at a safe point --------------------------


def test_the_watch_command_prints_a_line_per_batch_and_stops_on_sigint(tmp_path: Path) -> None:
    import signal
    import sys
    import threading

    write_pages(tmp_path / "docs", 2)
    with EmbeddingsServer(embed_fn, model="hash-16") as server:
        env = {
            **os.environ,
            "FUNCPIPE_DATA_DIR": str(tmp_path / "data"),
            "FUNCPIPE_EMBED_URL": server.base_url,
            "FUNCPIPE_EMBED_MODEL": server.model,
            "FUNCPIPE_EMBED_DIM": str(DIM),
        }
        args = [sys.executable, "-m", "funcpipe_rag.cli", "watch", "docs", "--prune", "--json"]
        proc = subprocess.Popen(
            [*args, "--settle", "0.2"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: list[dict[str, object]] = []

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(json.loads(line))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()

        async def follow() -> None:
            await until(lambda: bool(lines), "the reconcile line")
            n = 0
            while not any(b["kind"] == "changes" and b["sources_added"] for b in lines):
                n += 1  # the watcher may start after the first write: write again
                (tmp_path / "docs" / f"new{n}.md").write_text(page(60 + n))
                await until_any(lambda: len(lines) > 1, 2.0)

        try:
            asyncio.run(follow())
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(BOUND)
        reader.join(BOUND)
        assert code == 0, proc.stderr.read() if proc.stderr else ""
        assert lines[0]["kind"] == "reconcile"
        assert lines[0]["sources_added"] == 2
        changes = [b for b in lines if b["kind"] == "changes"]
        assert changes[0]["sources_added"] == 1
        assert changes[0]["chunks_embedded"] not in (0, None)
        assert isinstance(changes[0]["lag_s"], float)


async def until_any(cond: Callable[[], bool], seconds: float) -> None:
    """Wait for ``cond`` up to ``seconds`` (no assert: the caller retries)."""

    async def _c() -> bool:
        return cond()

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(until_async(_c, "a retried condition"), seconds)


# -- the law: any schedule of file operations converges ----------------------------------------

NAMES = ("a.md", "b.md", "sub/c.md")
Op = tuple[str, int, int, float]  # (kind, name index, version or target index, pause after)
OPS = st.tuples(
    st.sampled_from(["write", "atomic", "delete", "move"]),
    st.integers(0, len(NAMES) - 1),
    st.integers(0, 3),
    st.sampled_from([0.0, 0.0, 0.05, 0.3]),  # 0.3 > settle: a change during a running batch
)
EXAMPLES = 1 if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci" else 40


def short(version: int) -> str:
    """A one-chunk page per version."""
    return f"# Version {version}\n\nThe text of version {version}.\n"


@hsettings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(OPS, min_size=1, max_size=6))
def test_any_schedule_of_file_operations_converges_to_a_clean_ingest(ops: list[Op]) -> None:
    """After quiescence the collection equals a clean ingest of the final tree (so no duplicate
    point), verify is ok, and the texts sent to the embedder are at most one per write:
    deletes and moves send none."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        write_pages(tmp / "docs", 1)

        async def main() -> None:
            with EmbeddingsServer(embed_fn, model="hash-16") as server:
                h = Harness(tmp, server)
                await h.start()
                try:
                    sent = sum(len(ex.texts) for ex in server.exchanges)
                    writes = 0
                    for kind, i, v, pause in ops:
                        path = h.docs / NAMES[i]
                        path.parent.mkdir(parents=True, exist_ok=True)
                        if kind in ("write", "atomic"):
                            writes += 1
                            if kind == "write":
                                path.write_text(short(v))
                            else:
                                tmp_file = path.parent / f".{path.name}.tmp"
                                tmp_file.write_text(short(v))
                                tmp_file.replace(path)
                        elif kind == "delete" and path.exists():
                            path.unlink()
                        elif kind == "move" and path.exists():
                            path.replace(h.docs / NAMES[v % len(NAMES)])
                        await asyncio.sleep(pause)
                    await h.converged(f"the schedule {ops}")
                    texts = sum(len(ex.texts) for ex in server.exchanges) - sent
                    assert texts <= writes, (texts, writes)
                finally:
                    await h.finish()

        asyncio.run(main())
