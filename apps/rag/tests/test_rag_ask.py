"""ask, extractive mode: the sentence splitter, MMR, and answers over a real Edge store."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from funcpipe_rag.app import Settings, run_ingest
from funcpipe_rag.app._ask import run_ask
from funcpipe_rag.cli import cli
from funcpipe_rag.domain._answer import mmr, sentence_spans, sentences
from funcpipe_rag.pipelines import DEFAULT_SETTINGS
from funcpipe_rag.pipelines._ask import AskOptions
from hypothesis import given
from hypothesis import strategies as st
from rag_doubles import drive
from typer.testing import CliRunner

# -- sentences --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Open it with gzip.open(). Then read it.", ["Open it with gzip.open().", "Then read it."]),
        ("Use e.g. a list. Or not.", ["Use e.g. a list.", "Or not."]),
        (
            "Dr. Smith wrote v1.2 on Python 3.11 today.",
            ["Dr. Smith wrote v1.2 on Python 3.11 today."],
        ),
        ("Call `a. B` now. Done!", ["Call `a. B` now.", "Done!"]),
        (
            "Intro:\n```\nx = 1. Y = 2.\n```\nAfter it.",
            ["Intro:", "```\nx = 1. Y = 2.\n```", "After it."],
        ),
        ("A list:\n- one thing\n- two things", ["A list:", "- one thing", "- two things"]),
        ("First para\n\nSecond para", ["First para", "Second para"]),
        ('He said "stop." Then left?  Yes.', ['He said "stop."', "Then left?", "Yes."]),
    ],
)
def test_sentences_keep_code_dotted_names_and_abbreviations_whole(
    text: str, want: list[str]
) -> None:
    assert sentences(text) == want


_PIECES = st.sampled_from(
    [
        "Word",
        "gzip.open()",
        "e.g.",
        "3.11",
        ". ",
        "! ",
        "? ",
        "\n",
        "\n\n",
        "`c. D`",
        "```",
        " ",
        "- ",
        "Dr.",
    ]
)


@given(st.lists(_PIECES, max_size=30).map("".join))
def test_sentence_spans_partition_the_text(text: str) -> None:
    spans = sentence_spans(text)
    at = 0
    for a, b in spans:
        assert at <= a < b <= len(text)
        assert text[a:b] == text[a:b].strip()
        assert not text[at:a].strip()
        at = b
    assert not text[at:].strip()


# -- mmr --------------------------------------------------------------------------------------


@given(
    st.lists(st.floats(-1, 1), min_size=0, max_size=12),
    st.integers(1, 6),
    st.floats(0, 1),
    st.floats(-1, 1),
)
def test_mmr_takes_the_best_first_distinct_and_above_the_floor(
    scores: list[float], k: int, diversity: float, floor: float
) -> None:
    picked = mmr(
        scores, lambda i, j: 1.0 if (i + j) % 2 == 0 else 0.0, k, diversity=diversity, floor=floor
    )
    assert len(picked) == len(set(picked)) <= k
    assert all(scores[i] >= floor for i in picked)
    eligible = [s for s in scores if s >= floor]
    if eligible:
        assert scores[picked[0]] == max(eligible)
        assert len(picked) == min(k, len(eligible))


def test_mmr_prefers_a_different_sentence_to_a_near_duplicate() -> None:
    same = {frozenset({0, 1})}
    picked = mmr(
        [0.9, 0.89, 0.6], lambda i, j: 1.0 if frozenset({i, j}) in same else 0.0, 2, diversity=0.5
    )
    assert picked == [0, 2]


# -- end to end over Qdrant Edge and the bundled model ----------------------------------------

PAGES = {
    "atexit.md": "# Exit handlers\n\nTo run cleanup code when the interpreter exits, register a "
    "function with atexit.register(). Registered functions run in reverse order of "
    "registration.\n\nThey do not run when the process is killed by a signal.\n",
    "gzip.md": "# Compressed files\n\nOpen a compressed file with gzip.open() and read it like "
    "any other file object. The compression level defaults to 9, e.g. the smallest output.\n",
    "retry.md": "# Retries\n\nA retry policy waits with exponential backoff and jitter between "
    "attempts. It honours the Retry-After header of a rate-limited server.\n",
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    root = tmp_path_factory.mktemp("ask")
    for name, text in PAGES.items():
        (root / name).write_text(text)
    settings = Settings.model_construct(data_dir=root / "data", collection="ask")
    report = drive(lambda: run_ingest(settings, DEFAULT_SETTINGS, [str(root)], base=root))
    assert report.errors == []
    return settings, root


def test_extractive_answer_cites_exact_spans_of_the_chunks_it_quotes(
    store: tuple[Settings, Path],
) -> None:
    settings, root = store
    answer = drive(
        lambda: run_ask(
            settings, "how do I run cleanup code when the interpreter exits", AskOptions()
        )
    )
    assert answer.answered
    assert answer.mode == "extractive"
    assert "atexit.register()" in answer.answer
    numbers = [int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)]
    assert (
        [c.n for c in answer.citations]
        == sorted(set(numbers))
        == list(range(1, len(answer.citations) + 1))
    )
    assert numbers == sorted(numbers, key=lambda n: numbers.index(n))  # first use order
    by_n = {c.n: c.hit for c in answer.citations}
    for sentence, n in re.findall(r"(.*?) \[(\d+)\]\s*", answer.answer):
        hit = by_n[int(n)]
        assert sentence in " ".join(hit.text.split())
        source = (root / hit.source).read_text()
        assert source[hit.start] == hit.text[0]
        assert source[hit.end - 1] == hit.text[-1]


def test_no_relevant_passage_is_a_refusal_with_a_reason(store: tuple[Settings, Path]) -> None:
    settings, _ = store
    answer = drive(lambda: run_ask(settings, "what is the capital of France", AskOptions()))
    assert (answer.answered, answer.citations, answer.answer) == (False, (), "")
    assert "floor" in answer.to_json()["reason"]  # type: ignore[operator]


def test_cli_ask_json_shape_and_refusal_exit_zero(store: tuple[Settings, Path]) -> None:
    settings, _ = store
    args = ["--data-dir", str(settings.data_dir), "--collection", "ask", "--json"]
    got = CliRunner().invoke(cli, ["ask", "how do I open a compressed file", *args])
    assert got.exit_code == 0, got.output
    doc = json.loads(got.stdout)
    assert set(doc) == {
        "answer",
        "answered",
        "citations",
        "mode",
        "model",
        "usage",
        "truncated",
        "dropped_markers",
    }
    assert doc["answered"]
    assert doc["usage"] is None
    assert doc["dropped_markers"] == 0
    assert {"n", "source", "title", "headings", "start", "end", "text"} <= set(doc["citations"][0])
    assert doc["citations"][0]["source"] == "gzip.md"
    refused = CliRunner().invoke(cli, ["ask", "who won the world cup in 1998", *args])
    assert refused.exit_code == 0
    assert json.loads(refused.stdout)["answered"] is False


def test_cli_ask_source_filter_and_text_output(store: tuple[Settings, Path]) -> None:
    settings, _ = store
    args = ["--data-dir", str(settings.data_dir), "--collection", "ask"]
    got = CliRunner().invoke(
        cli, ["ask", "exponential backoff between attempts", "--source", "retry.md", *args]
    )
    assert got.exit_code == 0, got.output
    assert "[1] retry.md [" in got.stdout
    assert "gzip.md" not in got.stdout
    bad = CliRunner().invoke(cli, ["ask", "x", "--where", "colour=red", *args])
    assert bad.exit_code == 2


def test_ask_help_explains_both_modes_and_their_settings() -> None:
    got = CliRunner().invoke(cli, ["ask", "--help"], env={"COLUMNS": "100"})
    assert got.exit_code == 0
    text = " ".join(got.stdout.split())
    for needle in (
        "Offline by default",
        "Model mode",
        "FUNCPIPE_CHAT_URL",
        "FUNCPIPE_CHAT_MODEL",
        "FUNCPIPE_CHAT_API_KEY",
        "FUNCPIPE_CHAT_CONTEXT",
        "dropped_markers",
        "--stream",
    ):
        assert needle in text, needle
