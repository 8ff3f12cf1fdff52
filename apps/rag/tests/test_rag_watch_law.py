"""``watch`` (issue 23): the command (a line per batch, SIGINT stops it) and the law over
drawn schedules of file operations. Real files, the real watcher, Qdrant Edge, the loopback
embeddings server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from funcpipe.testing.embeddings_server import EmbeddingsServer
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from watch_harness import BOUND, DIM, Harness, embed_fn, page, until, until_any, write_pages

pytestmark = pytest.mark.slow  # on the first Python of make test only (README)


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
