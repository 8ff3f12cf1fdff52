"""Answer eval: ``ask`` (extractive) over the retrieval eval's corpus and questions.

Usage: ``python bench/eval_answer.py [--corpus DIR] [--floors 0.15,0.2,0.25,0.3]`` (``make
eval`` runs it after the retrieval eval). The corpus is staged and ingested as in
``eval_retrieval.py`` (default spec: hybrid), once; every labelled question of
``eval_questions.json`` and the 20 unanswerable ones of ``eval_answers.json`` are asked in
process (one store and one embedder open for all). Printed per relevance floor:

- citation precision: the share of citations whose source is a page labelled as answering;
- answer hit rate: the share of answerable questions whose answer holds an expected phrase;
- refusals: of the unanswerable questions (target >= 90%) and of the answerable (<= 5%);

then ``ask`` latency p50/p99 (ms, in process, question embedding and retrieval included,
after ten untimed warm-up questions) over the corpus's chunk count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from eval_retrieval import DEFAULT_CORPUS, HERE, Question, load_questions, page_of, stage_corpus
from funcpipe.result import Err
from funcpipe_rag.app import Settings, open_backends, run_ingest
from funcpipe_rag.domain._answer import Answer
from funcpipe_rag.pipelines import DEFAULT_SETTINGS
from funcpipe_rag.pipelines._ask import AskOptions, ask


@dataclass(frozen=True)
class Asked:
    answer: Answer
    answers: frozenset[str]
    phrases: tuple[str, ...]
    answerable: bool


def table(asked: Sequence[Asked], floor: float) -> str:
    """One row: the figures if answers below ``floor`` had been refusals."""

    def passes(a: Asked) -> bool:
        return a.answer.answered and (a.answer.relevance or 0.0) >= floor

    good = [a for a in asked if a.answerable]
    bad = [a for a in asked if not a.answerable]
    cites = [(c, a) for a in good if passes(a) for c in a.answer.citations]
    precision = sum(page_of(c.hit.source) in a.answers for c, a in cites) / max(1, len(cites))
    hits = sum(
        passes(a) and any(p.lower() in a.answer.answer.lower() for p in a.phrases) for a in good
    )
    refused_bad = sum(not passes(a) for a in bad) / max(1, len(bad))
    refused_good = sum(not passes(a) for a in good) / max(1, len(good))
    return (
        f"{floor:5.2f} {precision:9.3f} {hits / max(1, len(good)):8.3f} "
        f"{refused_bad:13.3f} {refused_good:11.3f} {sum(passes(a) for a in bad):6d}"
    )


async def run(
    corpus: Path,
    work: Path,
    labelled: list[Question],
    labels: dict[str, object],
    floors: Sequence[float],
) -> int:
    settings = Settings(data_dir=work / "store")
    report = await run_ingest(settings, DEFAULT_SETTINGS, [str(corpus)], base=corpus.parent)
    if isinstance(report, Err):
        raise SystemExit(f"ingest failed: {report.error.code}: {report.error.msg}")
    phrases = labels["phrases"]
    unanswerable = labels["unanswerable"]
    assert isinstance(phrases, dict)
    assert isinstance(unanswerable, list)
    todo: list[tuple[str, frozenset[str], tuple[str, ...], bool]] = [
        (q.q, q.answers, tuple(phrases.get(str(i), ())), True) for i, q in enumerate(labelled)
    ]
    todo += [(str(q), frozenset(), (), False) for q in unanswerable]
    options = replace(AskOptions(), floor=-1.0)  # every answer; each floor applied afterwards
    asked: list[Asked] = []
    lat: list[float] = []
    async with open_backends(settings, "funcpipe") as opened:
        if isinstance(opened, Err):
            raise SystemExit(f"store: {opened.error.msg}")
        b = opened.value
        for q, *_ in todo[:10]:
            await ask(b.index, b.embedder, q, options)()
        for q, pages, expect, answerable in todo:
            t0 = time.perf_counter()
            got = await ask(b.index, b.embedder, q, options)()
            lat.append((time.perf_counter() - t0) * 1000)
            if isinstance(got, Err):
                raise SystemExit(f"ask failed: {got.error.code}: {got.error.msg}")
            asked.append(Asked(got.value, pages, expect, answerable))
    return _print(asked, lat, report.value.chunks_embedded, floors)


FLOORS = (0.15, 0.2, 0.25, 0.3, 0.35)


def _print(asked: list[Asked], lat: list[float], chunks: int, floors: Sequence[float]) -> int:
    n_good = sum(a.answerable for a in asked)
    print(f"answer eval (extractive): {n_good} answerable, {len(asked) - n_good} unanswerable")
    print("floor precision hit-rate refused-unans refused-ans false")
    for floor in floors:
        print(table(asked, floor))
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
    print(
        f"ask latency over {chunks} chunks: p50 {statistics.median(lat):.1f} ms, p99 {p99:.1f} ms"
    )
    return 0


def main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--questions", type=Path, default=HERE / "eval_questions.json")
    ap.add_argument("--labels", type=Path, default=HERE / "eval_answers.json")
    ap.add_argument("--floors", default="")
    args, _ = ap.parse_known_args(argv)  # make eval passes the retrieval eval's EVAL_ARGS too
    if not args.corpus.is_dir():
        print(f"corpus not found: {args.corpus} (see eval_retrieval.py)", file=sys.stderr)
        return 2
    floors = tuple(float(x) for x in args.floors.split(",") if x) or FLOORS
    labelled = load_questions(args.questions)
    labels = json.loads(args.labels.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "library"
        stage_corpus(args.corpus, corpus)
        return asyncio.run(run(corpus, Path(tmp), labelled, labels, floors))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
