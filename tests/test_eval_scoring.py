"""The retrieval eval's scoring (bench/eval_retrieval.py): labels and metrics."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eval_retrieval", BENCH / "eval_retrieval.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["eval_retrieval"] = mod
    spec.loader.exec_module(mod)
    return mod


ev = _module()


def test_page_of_source_keys() -> None:
    assert ev.page_of("library/csv.rst") == "csv"
    assert ev.page_of("library/os.path.rst") == "os.path"
    assert ev.page_of("docs/unittest.mock-examples.rst") == "unittest.mock-examples"
    assert ev.page_of("site/glob.html") == "glob"


def test_score_counts_first_hit_rank_and_distinct_sources() -> None:
    qs = [ev.Question("a", frozenset({"x"})), ev.Question("b", frozenset({"y", "z"}))]
    ranked = [["x", "x", "w"], ["w", "v", "z", "z", "u", "y"]]
    hit1, hit5, mrr, distinct = ev.score(ranked, qs)
    assert hit1 == 0.5
    assert hit5 == 1.0
    assert mrr == (1.0 + 1 / 3) / 2
    assert distinct == (2 + 4) / 2


def test_a_miss_scores_zero() -> None:
    qs = [ev.Question("a", frozenset({"x"}))]
    assert ev.score([["a", "b", "c", "d", "e", "x"]], qs) == (0.0, 0.0, 1 / 6, 5.0)


def test_question_set_is_labelled() -> None:
    data = json.loads((BENCH / "eval_questions.json").read_text())
    qs = data["questions"]
    assert len(qs) >= 50
    assert len({q["q"] for q in qs}) == len(qs)
    assert all(q["answers"] and all(isinstance(a, str) for a in q["answers"]) for q in qs)
