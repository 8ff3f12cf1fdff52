"""One renderer over typed values, for local and ``--server`` runs alike.

Every command turns what it got (from the app, or decoded from the server's JSON into the
same types) into text or JSON here, so both runs print the same bytes by construction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from rich.markup import escape

from funcpipe_rag.app import (
    CollectionEntry,
    CollectionStats,
    DeleteReport,
    DropReport,
    IngestReport,
    SearchHit,
    SourceEntry,
    VerifyOutcome,
    cite,
)

from ._io import emit_json, err_console, one_line, out


def report_json(report: IngestReport, interrupted: bool = False) -> dict[str, object]:
    """``ingest --json``: the summary, messages on one line; ``interrupted`` when a signal
    stopped the run."""
    doc = report.to_json()
    doc["errors"] = [
        {"source": e.source, "code": e.code, "msg": one_line(e.msg)} for e in report.errors
    ]
    if interrupted:
        doc["interrupted"] = True
    return doc


def ingest_report(
    report: IngestReport,
    *,
    json_out: bool,
    dry_run: bool,
    plan: Sequence[str] = (),
    interrupted: bool = False,
) -> None:
    """The ingest summary: one JSON object, or the plan (dry run), one sentence and a line
    per failed source."""
    if json_out:
        emit_json(report_json(report, interrupted))
        return
    if dry_run:
        out.print("Dry run: nothing was written. The plan:")
        for line in plan:
            out.print("  " + escape(line))
    r = report
    skipped = sum(r.sources_skipped.values())
    by = ", ".join(f"{n} {k}" for k, n in sorted(r.sources_skipped.items()))
    out.print(
        f"{r.sources_seen} sources seen: {r.sources_added} added, {r.sources_updated} updated, "
        f"{r.sources_unchanged} unchanged, {r.sources_deleted} deleted, {len(r.errors)} failed; "
        f"{r.chunks_embedded} chunks embedded, {r.chunks_upserted} upserted, "
        f"{r.chunks_deleted} deleted"
        + (f"; {skipped} files skipped ({escape(by)})" if skipped else "")
    )
    for e in report.errors:
        err_console.print(f"  failed {escape(e.source)}: [{e.code}] {escape(one_line(e.msg))}")


def _snippet(text: str, width: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def hits(found: Sequence[SearchHit], *, json_out: bool) -> None:
    """Each hit: rank, score, source and span; the title and heading path when the chunk has
    them; a one-line snippet of its readable text. ``--json``: ``search --json``."""
    if json_out:
        emit_json([h.to_json() for h in found])
        return
    if not found:
        out.print("  (no hits)")
    for n, h in enumerate(found, 1):
        cited = cite(h.source, h.locator)  # file.pdf p. 12-13 where the document has pages
        out.print(f"  {n}. {h.score:.3f}  {escape(cited)} [{h.start}:{h.end}]")
        path = " > ".join(dict.fromkeys(w for w in (h.title, *h.headings) if w))
        if path:
            out.print(f"     [bold]{escape(path)}[/bold]")
        out.print(f"     {escape(_snippet(h.text))}")


def verify(outcome: VerifyOutcome, *, json_out: bool) -> None:
    """``verify``: the state, each problem, and what a repair removed."""
    if json_out:
        emit_json(outcome.to_json())
        return
    found, final = outcome.found, outcome.final
    if found is not None and not found.ok:
        out.print(
            f"Repaired {len(found.problems)} problem(s), "
            f"removed {len(found.repair_deletes)} point(s):"
        )
        for p in found.problems:
            out.print(f"  {escape(p.source)}: [{p.code}] {escape(p.msg)}")
    state = "OK" if final.ok else "PROBLEMS FOUND"
    out.print(f"{state}: {final.sources} committed sources, {final.points} points")
    for p in final.problems:
        err_console.print(f"  {escape(p.source)}: [{p.code}] {escape(p.msg)}")
    if not final.ok:
        err_console.print("Fix: funcpipe-rag verify --repair, then ingest again")


def collections(got: Sequence[CollectionEntry], *, json_out: bool) -> None:
    if json_out:
        emit_json([c.to_json() for c in got])
        return
    if not got:
        out.print("(no collections: run funcpipe-rag ingest PATH first)")
    for c in got:
        out.print(
            f"{escape(c.name)}  {c.points} points, {c.sources} sources, "
            f"embedder {escape(c.embedder or '?')}"
        )


def stats(got: CollectionStats, *, json_out: bool) -> None:
    doc = got.to_json()
    if json_out:
        emit_json(doc)
        return
    for key, value in doc.items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        if isinstance(value, dict):
            shown = " ".join(f"{k}={json.dumps(v)}" for k, v in value.items())
        out.print(f"{key}: {escape(str('-' if shown is None else shown))}")


def sources(got: Sequence[SourceEntry], *, json_out: bool) -> None:
    if json_out:
        emit_json([e.to_json() for e in got])
        return
    for e in got:
        out.print(f"{escape(e.source)}  {e.chunks} chunks  {e.version[:12]}")


def deleted(rep: DeleteReport, *, json_out: bool, dry_run: bool = False) -> None:
    if json_out:
        emit_json({**rep.to_json(), "dry_run": True} if dry_run else rep.to_json())
        return
    verb = "would delete" if dry_run else "deleted"
    out.print(f"{verb} {len(rep.deleted)} sources ({rep.chunks_deleted} chunks)")
    for key in rep.deleted:
        out.print(f"  {escape(key)}")
    for e in rep.errors:
        err_console.print(f"  failed {escape(e.source)}: [{e.code}] {escape(one_line(e.msg))}")


def dropped(rep: DropReport, *, json_out: bool) -> None:
    if json_out:
        emit_json(rep.to_json())
    elif rep.dropped:
        out.print(f"dropped collection {escape(rep.collection)}")
    else:
        out.print(f"no collection {escape(rep.collection)}: nothing to drop")
