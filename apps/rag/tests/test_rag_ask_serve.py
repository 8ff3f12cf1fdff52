"""POST /v1/ask on a real uvicorn (loopback) with the loopback chat server: JSON, SSE events,
and ``ask --server`` printing what the local command prints."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest
from funcpipe.testing import ChatReply, ChatServer
from funcpipe_rag.app import Settings, run_ingest
from funcpipe_rag.cli import cli
from funcpipe_rag.pipelines import DEFAULT_SETTINGS
from rag_doubles import drive
from typer.testing import CliRunner, Result

READY = re.compile(r"on (http://127\.0\.0\.1:\d+)")
PAGES = {
    "atexit.md": "# Exit handlers\n\nTo run cleanup code when the interpreter exits, register a "
    "function with atexit.register(). Registered functions run in reverse order.\n",
    "gzip.md": "# Compressed files\n\nOpen a compressed file with gzip.open() and read it like "
    "any other file object.\n",
}
Q = "how do I run cleanup code when the interpreter exits"


def _reply(req: Mapping[str, object]) -> ChatReply:
    msgs = req.get("messages")
    user = msgs[-1]["content"] if isinstance(msgs, list) and isinstance(msgs[-1], dict) else ""
    first = re.findall(r"^\[(c[0-9a-f]+)\]", str(user), re.MULTILINE)[0]
    if "slowly" in str(user):
        return ChatReply(tuple(f"word{i} [{first}] " for i in range(400)), delay_s=0.05)
    return ChatReply(("Use atexit.register() [", first[:4], first[4:] + "]", ", not [7]."))


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNCPIPE_")}
    return {**env, **extra}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, ChatServer]]:
    root = tmp_path_factory.mktemp("asks")
    for name, text in PAGES.items():
        (root / name).write_text(text)
    settings = Settings.model_construct(data_dir=root / "data", collection="funcpipe")
    assert (
        drive(lambda: run_ingest(settings, DEFAULT_SETTINGS, [str(root)], base=root)).errors == []
    )
    local = CliRunner().invoke(
        cli, ["ask", Q, "--json", "--extractive", "--data-dir", str(root / "data")]
    )
    assert local.exit_code == 0, local.output
    (root / "local.json").write_text(local.stdout)
    with ChatServer(_reply) as chat:
        cmd = [sys.executable, "-m", "funcpipe_rag.cli", "serve", "--port", "0"]
        proc = subprocess.Popen(
            [*cmd, "--data-dir", str(root / "data"), "--max-inflight", "1"],
            cwd=root,
            env=_env(FUNCPIPE_CHAT_URL=chat.base_url),
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stderr is not None
        url = None
        for line in proc.stderr:
            m = READY.search(line)
            if m:
                url = m.group(1)
                threading.Thread(target=proc.stderr.read, daemon=True).start()
                break
        assert url is not None, "server did not start"
        try:
            yield url, root, chat
        finally:
            proc.terminate()
            assert proc.wait(timeout=60) == 0


def test_ask_json_and_extractive(served: tuple[str, Path, ChatServer]) -> None:
    url, _, _ = served
    with httpx.Client(base_url=url, timeout=60) as c:
        doc = c.post("/v1/ask", json={"question": Q}).json()
        assert doc["mode"] == "model"
        assert doc["answer"] == "Use atexit.register() [1], not ."
        assert doc["dropped_markers"] == 1
        assert [x["source"] for x in doc["citations"]] == ["atexit.md"]
        off = c.post("/v1/ask", json={"question": Q, "extractive": True}).json()
        assert off["mode"] == "extractive"
        assert off["answered"] is True
        bad = c.post("/v1/ask", json={"question": Q, "where": {"colour": "red"}})
        assert bad.status_code == 400


def test_ask_sse_events_reassemble_to_the_json_answer(
    served: tuple[str, Path, ChatServer],
) -> None:
    url, _, _ = served
    with httpx.Client(base_url=url, timeout=60) as c:
        got = c.post("/v1/ask", json={"question": Q}, headers={"accept": "text/event-stream"}).text
    events = [
        (m.group(1), json.loads(m.group(2)))
        for m in re.finditer(r"event: (\w+)\ndata: (.*)\n\n", got)
    ]
    kinds = [k for k, _ in events]
    assert kinds[-1] == "done"
    assert kinds.index("citation") < kinds.index("delta", kinds.index("citation"))
    done = events[-1][1]
    text = "".join(d["text"] for k, d in events if k == "delta")
    assert text == done["answer"]
    assert [d for k, d in events if k == "citation"] == done["citations"]
    assert done["timing"]["first_citation_ms"] is not None


def test_cli_ask_server_parity(served: tuple[str, Path, ChatServer]) -> None:
    url, root, chat = served

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, ["ask", Q, *args])

    remote = run("--server", url, "--json", "--extractive")
    assert remote.exit_code == 0, remote.output
    assert json.loads(remote.stdout) == json.loads((root / "local.json").read_text())
    streamed = run("--server", url, "--stream")
    assert streamed.exit_code == 0, streamed.output
    assert streamed.stdout.startswith("Use atexit.register() [1], not .\n")
    assert "[1] atexit.md [" in streamed.stdout
    del chat


def test_a_client_that_disconnects_cancels_the_upstream_request(
    served: tuple[str, Path, ChatServer],
) -> None:
    url, _, chat = served
    before = chat.disconnects
    with (
        httpx.Client(base_url=url, timeout=60) as c,
        c.stream("POST", "/v1/ask", json={"question": Q + " slowly", "stream": True}) as r,
    ):
        for line in r.iter_lines():
            if line.startswith("event: delta"):
                break  # one delta arrived: go away mid-answer
    for _ in range(500):  # the server notices at its next write (a bounded wait, not a timing)
        if chat.disconnects > before:
            break
        time.sleep(0.02)
    assert chat.disconnects == before + 1


def test_a_question_in_flight_holds_its_admission_slot(
    served: tuple[str, Path, ChatServer],
) -> None:
    url, _, _ = served
    with (
        httpx.Client(base_url=url, timeout=60) as c,
        c.stream("POST", "/v1/ask", json={"question": Q + " slowly", "stream": True}) as r,
    ):
        # the line iterator stays referenced: a dropped one would close the connection (and
        # the server would rightly let the question go)
        lines = r.iter_lines()
        for line in lines:
            if line.startswith("event: delta"):
                break  # answering: the one slot is taken
        shed = c.post("/v1/ask", json={"question": Q})
        assert shed.status_code == 503
        assert shed.json()["code"] == "OVERLOADED"
        assert shed.headers["retry-after"]
