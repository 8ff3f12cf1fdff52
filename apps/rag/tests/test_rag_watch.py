"""``watch`` (issue 23) with real files, the real watcher (watchfiles) and Qdrant Edge.

Each scenario runs ``run_watch`` in process as an asyncio task with a stop event, changes the
tree, waits (on a condition, with a generous bound; never a timing assert) until the
collection matches a clean ingest of the final tree, then checks ``verify``. Embedding
requests are counted by the loopback embeddings server.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from funcpipe.testing.embeddings_server import EmbeddingsServer
from funcpipe_rag.app._watch import WatchOptions
from funcpipe_rag.domain._watch_plan import Pending
from hypothesis import given
from hypothesis import strategies as st
from watch_harness import SETTLE, Harness, embed_fn, page, scenario, write_pages

pytestmark = pytest.mark.slow  # on the first Python of make test only (README)


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
