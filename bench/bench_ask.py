"""funcpipe-rag ask (extractive): latency over 20k chunks in process, beside the search it
starts with (same store, same questions, same run); then ``POST /v1/ask`` over SSE on a real
``serve`` in model mode (the loopback ``ChatServer``, answering at once): time to the first
``citation`` event beside the whole JSON answer. Embedded defaults: Qdrant Edge + the bundled
static model. The corpus is generated prose: paragraphs of 8-20 word sentences."""

from __future__ import annotations

import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
from _harness import Row
from bench_rag import VOCAB
from funcpipe.result import ErrInfo, Ok, Result
from funcpipe.testing import ChatReply, ChatServer
from funcpipe_rag.app import Settings, open_backends, run_ingest
from funcpipe_rag.pipelines import DEFAULT_SETTINGS, search
from funcpipe_rag.pipelines._ask import AskOptions, ask

TARGET_CHUNKS = 20_000


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(VOCAB) for _ in range(rng.randint(8, 20))]
    return " ".join(words).capitalize() + "."


def make_corpus(docs: Path, first: int, n: int, seed: int) -> None:
    rng = random.Random(seed)
    docs.mkdir(parents=True, exist_ok=True)
    for i in range(first, first + n):
        paras = [" ".join(_sentence(rng) for _ in range(rng.randint(3, 7))) for _ in range(5)]
        (docs / f"doc{i:05d}.md").write_text(f"# Page {i}\n\n" + "\n\n".join(paras) + "\n")


async def _latencies(
    settings: Settings, questions: list[str]
) -> Result[tuple[list[float], list[float], int], ErrInfo]:
    async with open_backends(settings, "funcpipe") as opened:
        if not isinstance(opened, Ok):
            return opened
        b = opened.value
        options = AskOptions()
        for q in questions[:20]:  # warm-up
            await ask(b.index, b.embedder, q, options)()
        asked: list[float] = []
        searched: list[float] = []
        answered = 0
        for q in questions:
            t0 = time.perf_counter()
            got = await ask(b.index, b.embedder, q, options)()
            asked.append((time.perf_counter() - t0) * 1000)
            if not isinstance(got, Ok):
                return got
            answered += got.value.answered
            t0 = time.perf_counter()
            await search(b.index, b.embedder, q, options.search)()
            searched.append((time.perf_counter() - t0) * 1000)
        return Ok((sorted(asked), sorted(searched), answered))


def bench_ask(tmp: Path) -> list[Row]:
    settings = Settings.model_construct(data_dir=tmp / "data", collection="funcpipe")
    docs = tmp / "docs"
    chunks = n_docs = 0
    while chunks < TARGET_CHUNKS:
        make_corpus(docs, n_docs, 2000, seed=n_docs)
        n_docs += 2000
        ingested = asyncio.run(run_ingest(settings, DEFAULT_SETTINGS, [str(docs)], base=tmp))
        assert isinstance(ingested, Ok), ingested
        chunks += ingested.value.chunks_upserted
    rng = random.Random(11)
    questions = [
        "how does " + " ".join(rng.choice(VOCAB) for _ in range(rng.randint(2, 6))) + " work"
        for _ in range(300)
    ]
    got = asyncio.run(_latencies(settings, questions))
    assert isinstance(got, Ok), got
    asked, searched, answered = got.value

    def p99(xs: list[float]) -> float:
        return xs[int(len(xs) * 0.99) - 1]

    note = (
        f"{chunks} chunks, {len(asked)} questions ({answered} answered), k=5, sentences of the "
        "3 best chunks embedded and scored, MMR; the baseline is the search alone (same options)"
    )
    return [
        Row(
            f"ask (extractive) p50 over {chunks} chunks, ms",
            statistics.median(asked),
            "search p50",
            statistics.median(searched),
            "ms",
            "p50 <= 25 ms",
            note,
        ),
        Row(
            f"ask (extractive) p99 over {chunks} chunks, ms",
            p99(asked),
            "search p99",
            p99(searched),
            "ms",
            "p99 <= 60 ms",
            note,
        ),
    ]


READY = re.compile(r"on (http://127\.0\.0\.1:\d+)")


def _reply(req: Mapping[str, object]) -> ChatReply:
    msgs = req.get("messages")
    user = msgs[-1]["content"] if isinstance(msgs, list) and isinstance(msgs[-1], dict) else ""
    ids = re.findall(r"^\[(c[0-9a-f]+)\]", str(user), re.MULTILINE)
    return ChatReply(("The answer", f" [{ids[0]}]", " and more words.") if ids else ("none",))


def bench_first_citation(tmp: Path, questions: list[str]) -> list[Row]:
    """Time to the first SSE ``citation`` event of ``/v1/ask`` vs the whole JSON answer."""
    with ChatServer(_reply) as chat:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FUNCPIPE_")}
        env["FUNCPIPE_CHAT_URL"] = chat.base_url
        cmd = [sys.executable, "-m", "funcpipe_rag.cli", "serve", "--port", "0"]
        proc = subprocess.Popen(
            [*cmd, "--data-dir", str(tmp / "data")], env=env, stderr=subprocess.PIPE, text=True
        )
        assert proc.stderr is not None
        url = next(m.group(1) for line in proc.stderr if (m := READY.search(line)))
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        first: list[float] = []
        whole: list[float] = []
        try:
            with httpx.Client(base_url=url, timeout=60) as c:
                for q in questions[:10]:  # warm-up
                    c.post("/v1/ask", json={"question": q})
                for q in questions:
                    t0 = time.perf_counter()
                    c.post("/v1/ask", json={"question": q}).raise_for_status()
                    whole.append((time.perf_counter() - t0) * 1000)
                    t0 = time.perf_counter()
                    body = {"question": q, "stream": True}
                    with c.stream("POST", "/v1/ask", json=body) as r:
                        for line in r.iter_lines():
                            if line.startswith("event: citation"):
                                first.append((time.perf_counter() - t0) * 1000)
                                break
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    first.sort()
    whole.sort()
    note = (
        f"{len(first)} of {len(questions)} questions cited; loopback chat server answering "
        "at once, so the figure is retrieval + scoring + prompt + the SSE path"
    )
    return [
        Row(
            "/v1/ask time to first citation event p50, ms",
            statistics.median(first) if first else float("nan"),
            "the whole JSON answer p50",
            statistics.median(whole),
            "ms",
            "first citation before the whole answer",
            note,
        )
    ]


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-ask-") as tmp:
        rows = bench_ask(Path(tmp))
        rng = random.Random(13)
        questions = [
            "how does " + " ".join(rng.choice(VOCAB) for _ in range(rng.randint(2, 6))) + " work"
            for _ in range(100)
        ]
        return rows + bench_first_citation(Path(tmp), questions)
