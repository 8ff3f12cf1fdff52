"""The demo: ingest the bundled docs into a throwaway embedded store and search them."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from importlib.resources import as_file, files
from pathlib import Path

from funcpipe.result import Err, ErrInfo, Ok, Result

from funcpipe_rag.pipelines import DEFAULT_SETTINGS

from ._ingest import run_ingest
from ._query import run_search
from ._settings import Settings

QUERIES = (
    "retry a failed call with exponential backoff",
    "process killed during ingest: commit marker",
    "errors as values instead of exceptions",
    "exact character offsets of chunks",
)


def _snippet(text: str, width: int = 150) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


async def run_demo(say: Callable[[str], None], *, k: int = 3) -> Result[None, ErrInfo]:
    """Ingest ``demo_corpus/`` with the embedded defaults, then run ``QUERIES``."""
    with (
        tempfile.TemporaryDirectory(prefix="funcpipe-demo-") as tmp,
        as_file(files("funcpipe_rag") / "demo_corpus") as corpus,
    ):
        settings = Settings.model_construct(data_dir=Path(tmp), collection="demo")
        corpus_dir = Path(corpus)
        n = len(list(corpus_dir.glob("*.md")))  # noqa: ASYNC240 - a few entries, once
        say(f"Ingesting {n} pages of FuncPipe docs into an embedded store in {tmp} ...")
        report = await run_ingest(
            settings, DEFAULT_SETTINGS, [str(corpus_dir)], base=corpus_dir.parent
        )
        if isinstance(report, Err):
            return report
        r = report.value
        say(
            f"  {r.sources_added} sources added, {r.chunks_embedded} chunks embedded "
            f"and stored (spec hash {DEFAULT_SETTINGS.spec_hash[:12]})"
        )
        again = await run_ingest(
            settings, DEFAULT_SETTINGS, [str(corpus_dir)], base=corpus_dir.parent
        )
        if isinstance(again, Ok):
            a = again.value
            say(
                f"  re-run: {a.sources_unchanged} unchanged, {a.chunks_embedded} chunks embedded, "
                f"{a.chunks_upserted} points written (re-runs are free)"
            )
        for q in QUERIES:
            hits = await run_search(settings, q, k)
            if isinstance(hits, Err):
                return hits
            say("")
            say(f"search: {q}")
            for i, h in enumerate(hits.value, 1):
                say(f"  {i}. {h.score:.3f}  {h.source} [{h.start}:{h.end}]")
                path = " > ".join(dict.fromkeys(x for x in (h.title, *h.headings) if x))
                if path:
                    say(f"     {path}")
                say(f"     {_snippet(h.text)}")
        say("")
        say("Next: funcpipe-rag ingest ./your-docs && funcpipe-rag search 'your question'")
    return Ok(None)
