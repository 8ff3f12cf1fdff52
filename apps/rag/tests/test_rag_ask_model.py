"""ask, model mode: marker laws (Hypothesis), the chat adapter against the loopback chat
server's fault schedules, and the pipeline and CLI over a real Edge store."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping

import httpx
import pytest
from funcpipe.policies import ResilienceEnv, SystemClock
from funcpipe.result import Err, ErrInfo, Ok, codes
from funcpipe.testing import ChatFault, ChatReply, ChatServer
from funcpipe_rag.adapters._chat import OpenAIChat
from funcpipe_rag.app import Settings, run_ingest
from funcpipe_rag.app._ask import ChatSettings, run_ask
from funcpipe_rag.cli import cli
from funcpipe_rag.domain._answer import (
    Answer,
    ChatDelta,
    ChatEnd,
    feed,
    finish,
    renumber,
    start,
    verify_quotes,
)
from funcpipe_rag.pipelines import DEFAULT_SETTINGS
from funcpipe_rag.pipelines._ask import AskOptions
from funcpipe_rag.pipelines._ask_stream import AskCitation, AskDelta, AskEvent
from hypothesis import given
from hypothesis import strategies as st
from rag_doubles import drive
from typer.testing import CliRunner

# -- marker laws ------------------------------------------------------------------------------

IDS = ["c1a2b3c", "c4d5e6f", "c0f9e8d"]
INVALID = ["99", "0", "c9z9z9", "x12"]
_piece = st.one_of(
    st.sampled_from(["Some text", " and ", ". ", "[note]", "[", "]", "a[b", "\n"]),
    st.sampled_from(IDS).map(lambda i: f"[{i}]"),
    st.sampled_from(INVALID).map(lambda i: f"[{i}]"),
    st.lists(st.sampled_from(IDS + INVALID), min_size=2, max_size=3).map(
        lambda xs: "[" + ", ".join(xs) + "]"
    ),
)


@given(st.lists(_piece, max_size=25).map("".join), st.lists(st.integers(0, 200), max_size=8))
def test_marker_rewriting_laws(raw: str, cuts: list[int]) -> None:
    text, used, dropped = renumber(IDS, raw)
    # streamed in any split: the same text, the same citations
    points = sorted({min(c, len(raw)) for c in cuts})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    state, out = start(IDS), []
    for piece in pieces:
        state, emitted = feed(state, piece)
        out.append(emitted)
    state, tail = finish(state)
    assert "".join(out) + tail == text == state.emitted
    assert (state.used, state.dropped) == (used, dropped)
    # every citation resolves to an id sent; numbering is first-use order, no duplicates
    assert set(used) <= set(IDS)
    assert len(used) == len(set(used))
    tokens = [
        t.strip()
        for m in re.finditer(r"\[([A-Za-z0-9_\- ,;]{1,62})\]", raw)
        for t in re.split(r"[,;]", m.group(1))
    ]
    valid = [t for t in tokens if t in IDS]
    assert list(dict.fromkeys(valid)) == list(used)  # nothing sent and cited is lost
    assert dropped == sum(t in INVALID for t in tokens)
    numbers = [int(n) for n in re.findall(r"\[(\d+)\]", text)]
    assert all(1 <= n <= len(used) for n in numbers)
    assert list(dict.fromkeys(numbers)) == list(range(1, len(used) + 1))


def test_a_marker_split_across_deltas_resolves() -> None:
    state = start(IDS)
    state, a = feed(state, "Use atexit [c1a")
    state, b = feed(state, "2b3c] and [4")
    state, c = feed(state, "2] done.")
    state, d = finish(state)
    assert (a, b, c + d) == ("Use atexit ", "[1] and ", " done.")
    assert (state.used, state.dropped) == (("c1a2b3c",), 1)


# -- the chat adapter against the loopback server ---------------------------------------------


def _ids_in(req: Mapping[str, object]) -> list[str]:
    msgs = req.get("messages")
    user = msgs[-1]["content"] if isinstance(msgs, list) and isinstance(msgs[-1], dict) else ""
    return re.findall(r"^\[(c[0-9a-f]+)\]", str(user), re.MULTILINE)


Outcome = tuple[list[str], ChatEnd | ErrInfo | None]


def _with_chat(server: ChatServer, waits: list[float] | None = None) -> Outcome:
    """Stream one answer from ``server``: the deltas' texts and the end (or the error)."""

    async def sleep(s: float) -> None:
        (waits if waits is not None else []).append(s)

    env = ResilienceEnv(random.Random(0), sleep, SystemClock())

    async def main() -> Ok[Outcome]:
        async with httpx.AsyncClient() as client:
            chat = OpenAIChat(client, base_url=server.base_url, model="m", env=env)
            texts: list[str] = []
            last: ChatEnd | ErrInfo | None = None
            async for item in chat.stream([{"role": "user", "content": "hi"}], 64)():
                if isinstance(item, Err):
                    return Ok((texts, item.error))
                if isinstance(item.value, ChatDelta):
                    texts.append(item.value.text)
                else:
                    last = item.value
            return Ok((texts, last))

    return drive(main)


def test_retries_429_and_5xx_honouring_retry_after() -> None:
    with ChatServer(lambda req: ChatReply(("Hello", " world"))) as server:
        server.push(ChatFault.rate_limited(2), ChatFault.status_error(503))
        waits: list[float] = []
        texts, end = _with_chat(server, waits)
        assert texts == ["Hello", " world"]
        assert isinstance(end, ChatEnd)
        assert len(server.requests) == 3
        assert waits[0] == 2.0


def test_reasoning_never_reaches_the_answer_and_missing_usage_is_unknown() -> None:
    reply = ChatReply(("Answer",), reasoning=("think [c1a2b3c]", "more"), usage=False)
    with ChatServer(lambda req: reply) as server:
        texts, end = _with_chat(server)
    assert texts == ["Answer"]
    assert isinstance(end, ChatEnd)
    assert end.usage is None


def test_lenient_parsing_of_malformed_lines_and_omitted_nulls() -> None:
    reply = ChatReply(("A", "B", "C"), malformed=True, omit_nulls=True, prompt_tokens=7)
    with ChatServer(lambda req: reply) as server:
        texts, end = _with_chat(server)
    assert texts == ["A", "B", "C"]
    assert isinstance(end, ChatEnd)
    assert end.usage is not None
    assert end.usage.prompt_tokens == 7


def test_a_stream_cut_mid_answer_is_an_error_after_what_arrived() -> None:
    with ChatServer(lambda req: ChatReply(("one", "two", "three"), drop_after=2)) as server:
        texts, err = _with_chat(server)
    assert texts == ["one", "two"]
    assert isinstance(err, ErrInfo)
    assert err.code == codes.NETWORK


def test_llama_cpp_overflow_is_a_context_overflow_error() -> None:
    with ChatServer(lambda req: ChatReply(("x",))) as server:
        server.push(ChatFault.overflow(9000, 4096))
        texts, err = _with_chat(server)
    assert texts == []
    assert isinstance(err, ErrInfo)
    assert err.code == codes.TOO_LARGE
    assert err.ctx.get("n_ctx") == 4096


# -- the pipeline and the CLI over Qdrant Edge ------------------------------------------------

PAGES = {
    "atexit.md": "# Exit handlers\n\nTo run cleanup code when the interpreter exits, register a "
    "function with atexit.register(). Registered functions run in reverse order.\n",
    "gzip.md": "# Compressed files\n\nOpen a compressed file with gzip.open() and read it like "
    "any other file object.\n",
}
Q = "how do I run cleanup code when the interpreter exits"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("askm")
    for name, text in PAGES.items():
        (root / name).write_text(text)
    settings = Settings.model_construct(data_dir=root / "data", collection="askm")
    assert (
        drive(lambda: run_ingest(settings, DEFAULT_SETTINGS, [str(root)], base=root)).errors == []
    )
    return settings


def citing(
    req: Mapping[str, object], prompt_tokens: int | None = None, drop_after: int | None = None
) -> ChatReply:
    first = _ids_in(req)[0]
    deltas = ("Register it with atexit.register() [", first[:3], first[3:] + "]", " [42].")
    return ChatReply(deltas, prompt_tokens=prompt_tokens, drop_after=drop_after)


def _ask(settings: Settings, server: ChatServer, events: list[AskEvent] | None = None) -> Answer:
    chat = ChatSettings(url=server.base_url, model="m", context=4096)
    sink = events.append if events is not None else None
    return drive(lambda: run_ask(settings, Q, AskOptions(), chat=chat, on_event=sink))


def test_model_answer_validates_markers_and_streams_citations(store: Settings) -> None:
    events: list[AskEvent] = []
    with ChatServer(citing) as server:
        answer = _ask(store, server, events)
    doc = answer.to_json()
    assert doc["answer"] == "Register it with atexit.register() [1] ."  # [42] removed
    assert (doc["mode"], doc["answered"], doc["dropped_markers"], doc["truncated"]) == (
        "model",
        True,
        1,
        False,
    )
    assert [c.hit.source for c in answer.citations] == ["atexit.md"]
    assert "".join(e.text for e in events if isinstance(e, AskDelta)) == doc["answer"]
    assert [e.citation.n for e in events if isinstance(e, AskCitation)] == [1]
    assert answer.usage is not None
    assert answer.usage.prompt_tokens > 0


def test_overflow_shrinks_the_prompt_and_retries_once(store: Settings) -> None:
    with ChatServer(citing) as server:
        server.push(ChatFault.overflow(9000, 4096))
        answer = _ask(store, server)
        sent = [len(_ids_in(r)) for r in server.requests if isinstance(r, dict)]
    assert answer.answered
    assert len(sent) == 2
    assert sent[1] == max(1, sent[0] // 2)


def test_silent_server_truncation_is_reported(store: Settings) -> None:
    with ChatServer(lambda req: citing(req, prompt_tokens=3)) as server:
        answer = _ask(store, server)
    assert answer.truncated


def test_refusal_never_asks_the_model(store: Settings) -> None:
    with ChatServer(citing) as server:
        chat = ChatSettings(url=server.base_url, model="m")
        answer = drive(lambda: run_ask(store, "capital of France", AskOptions(), chat=chat))
        assert server.requests == []
    assert not answer.answered


def test_cli_model_mode_stream_json_and_truncation_warning(
    store: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["--data-dir", str(store.data_dir), "--collection", "askm"]
    with ChatServer(lambda req: citing(req, prompt_tokens=3)) as server:
        monkeypatch.setenv("FUNCPIPE_CHAT_URL", server.base_url)
        got = CliRunner().invoke(cli, ["ask", Q, "--stream", *args])
        assert got.exit_code == 0, got.output
        assert got.stdout.startswith("Register it with atexit.register() [1] .\n")
        assert "[1] atexit.md [" in got.stdout
        assert "truncated" in got.stderr
        js = CliRunner().invoke(cli, ["ask", Q, "--json", *args])
        assert json.loads(js.stdout)["mode"] == "model"
        off = CliRunner().invoke(cli, ["ask", Q, "--json", "--extractive", *args])
        assert json.loads(off.stdout)["mode"] == "extractive"


def test_cli_stream_cut_keeps_what_arrived_and_fails(
    store: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["--data-dir", str(store.data_dir), "--collection", "askm"]
    with ChatServer(lambda req: citing(req, drop_after=3)) as server:
        monkeypatch.setenv("FUNCPIPE_CHAT_URL", server.base_url)
        got = CliRunner().invoke(cli, ["ask", Q, "--stream", *args])
    assert got.exit_code == 3
    assert got.stdout == "Register it with atexit.register() [1]\n"
    assert "cut" in got.stderr
    with ChatServer(lambda req: citing(req, drop_after=3)) as server:
        monkeypatch.setenv("FUNCPIPE_CHAT_URL", server.base_url)
        quiet = CliRunner().invoke(cli, ["ask", Q, *args])  # not streamed: printed at the end
    assert quiet.exit_code == 3
    assert quiet.stdout == "Register it with atexit.register() [1]\n"


# -- --verify quotes ---------------------------------------------------------------------------


def test_verify_quotes_keeps_only_claims_quoted_verbatim() -> None:
    texts = {"c1a2b3c": "Register a function with atexit.register().\nIt runs at exit."}
    raw = (
        'Use atexit [c1a2b3c] "register a  function with atexit.register()".\n'
        'It runs at startup [c1a2b3c] "runs at startup".\n'
        "An uncited claim.\n"
        'Invented [c9f9f9f] "It runs at exit."\n'
        "Quoteless [c1a2b3c].\n"
    )
    kept, removed = verify_quotes(raw, texts)
    assert kept == "Use atexit [c1a2b3c]."
    assert removed == 4


def quoting(req: Mapping[str, object]) -> ChatReply:
    first = _ids_in(req)[0]
    good = f'Register it with atexit [{first}] "register a function with atexit.register()".\n'
    bad = f'It also cleans the oven [{first}] "cleans the oven".\n'
    return ChatReply((good[:20], good[20:], bad))


def test_cli_verify_quotes_removes_unsupported_claims(
    store: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["--data-dir", str(store.data_dir), "--collection", "askm", "--json"]
    with ChatServer(quoting) as server:
        monkeypatch.setenv("FUNCPIPE_CHAT_URL", server.base_url)
        got = CliRunner().invoke(cli, ["ask", Q, "--verify", "quotes", *args])
        sent = server.requests[-1]
    assert got.exit_code == 0, got.output
    doc = json.loads(got.stdout)
    assert doc["answer"] == "Register it with atexit [1]."
    assert doc["claims_removed"] == 1
    assert "quote" in json.dumps(sent)
    bad = CliRunner().invoke(cli, ["ask", Q, "--verify", "facts", *args])
    assert bad.exit_code == 2
