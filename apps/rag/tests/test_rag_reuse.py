"""Vector reuse (issue 23): a chunk whose content hash and embedder the collection already
holds takes the stored vector. A renamed folder, a copied page and a re-ingest under another
key send 0 embedding requests, counted by the loopback embeddings server; the store ends
equal to a clean ingest of the final tree, and verify is ok.

Real parts: real files in tmp dirs, Qdrant Edge, the loopback embeddings server.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TypeVar

from funcpipe.result import ErrInfo, Ok, Result
from funcpipe.testing.embeddings_server import EmbeddingsServer
from funcpipe_rag.app import IngestReport, Settings, run_ingest, run_verify
from funcpipe_rag.pipelines import DEFAULT_SETTINGS
from rag_doubles import HashEmbedder, stored

T = TypeVar("T")
DIM = 16


def run(main: Callable[[], Coroutine[object, object, Result[T, ErrInfo]]]) -> T:
    res = asyncio.run(main())
    assert isinstance(res, Ok), res
    return res.value


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


def pages(root: Path, n: int, tag: str = "") -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        lines = (f"Paragraph {j} of page {i}{tag} says {i * j} things." for j in range(40))
        body = "\n\n".join(lines)
        (root / f"p{i:02d}.md").write_text(f"# Page {i}{tag}\n\n{body}\n")


def ingest(s: Settings, tmp: Path, roots: list[str], *, prune: bool = False) -> IngestReport:
    paths = [str(tmp / r) for r in roots]
    return run(lambda: run_ingest(s, DEFAULT_SETTINGS, paths, base=tmp, prune=prune))


def same_as_clean(tmp: Path, server: EmbeddingsServer, s: Settings, roots: list[str]) -> None:
    """The collection equals a clean ingest of the same tree (ids and payloads), and verify
    finds no problem."""
    clean = settings(tmp, server, f"{s.collection}-clean")
    ingest(clean, tmp, roots)
    assert stored(s) == stored(clean)
    report, _ = run(lambda: run_verify(s, repair=False))
    assert report.ok, report.problems


def test_a_renamed_folder_costs_no_embedding(tmp_path: Path) -> None:
    pages(tmp_path / "docs" / "guide", 6)
    with EmbeddingsServer(embed_fn, model="hash-16") as server:
        s = settings(tmp_path, server, "moves")
        first = ingest(s, tmp_path, ["docs"], prune=True)
        assert first.chunks_embedded > 6
        assert first.chunks_reused == 0
        sent = len(server.requests)
        (tmp_path / "docs" / "guide").rename(tmp_path / "docs" / "manual")
        moved = ingest(s, tmp_path, ["docs"], prune=True)
        assert len(server.requests) == sent  # not one embedding request
        assert (moved.sources_added, moved.sources_deleted) == (6, 6)
        assert (moved.chunks_embedded, moved.chunks_reused) == (0, first.chunks_embedded)
        assert moved.to_json()["chunks_reused"] == first.chunks_embedded
        same_as_clean(tmp_path, server, s, ["docs"])


def test_a_copied_page_and_another_key_cost_no_embedding(tmp_path: Path) -> None:
    pages(tmp_path / "docs", 3)
    with EmbeddingsServer(embed_fn, model="hash-16") as server:
        s = settings(tmp_path, server, "copies")
        first = ingest(s, tmp_path, ["docs"])
        sent = len(server.requests)
        shutil.copy(tmp_path / "docs" / "p01.md", tmp_path / "docs" / "copy.md")
        copied = ingest(s, tmp_path, ["docs"])
        assert len(server.requests) == sent
        assert copied.sources_added == 1
        assert copied.chunks_embedded == 0
        assert copied.chunks_reused > 0
        # the same files under another key (a key base one folder up): new keys, no request
        outer = tmp_path.parent
        again = run(lambda: run_ingest(s, DEFAULT_SETTINGS, [str(tmp_path / "docs")], base=outer))
        assert len(server.requests) == sent
        assert again.sources_added == 4
        assert again.chunks_embedded == 0
        assert again.chunks_reused == first.chunks_embedded + copied.chunks_reused


def test_a_text_twice_in_one_run_is_sent_once(tmp_path: Path) -> None:
    pages(tmp_path / "a", 2)
    pages(tmp_path / "b", 2)  # the same pages under another folder
    pages(tmp_path / "c", 1, tag=" (new)")
    with EmbeddingsServer(embed_fn, model="hash-16") as server:
        s = settings(tmp_path, server, "twice")
        rep = ingest(s, tmp_path, ["a", "b", "c"])
        texts = [t for ex in server.exchanges for t in ex.texts]
        assert len(texts) == len(set(texts)) == rep.chunks_embedded
        assert rep.chunks_embedded + rep.chunks_reused == rep.chunks_upserted
        assert rep.chunks_reused > 0
        same_as_clean(tmp_path, server, s, ["a", "b", "c"])
