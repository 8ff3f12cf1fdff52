"""The renovation's claims (issue 20), each a test that fails on the old middle:

- one failure model: every code and stage has one class, and the exit code, the HTTP status
  and the client all follow it; hints read codes, never message text;
- each policy applies once, at the unit that fails (the embed op's timeout bounds each
  request, never the sum of a group's requests; a request is tried ``max_attempts`` times);
- a failure protects exactly its own file from ``--prune`` (keys are never split at ``#``);
- one walk per run;
- no probing of library objects with ``getattr`` in the app.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from funcpipe.async_plan import AsyncPlan
from funcpipe.policies import (
    BackpressurePolicy,
    ChunkPolicy,
    RetryPolicy,
    TimeoutPolicy,
)
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.specs import batch_map_op, flat_map_op, map_op, pipeline_spec
from funcpipe_rag.adapters import EmbedderPort, RootsSource
from funcpipe_rag.app import Failure, Settings, Stage, classify, exit_code, http_status, run_ingest
from funcpipe_rag.cli._fail import hint
from funcpipe_rag.pipelines import (
    DEFAULT_SETTINGS,
    DESCRIBE_ENTRIES,
    DOCS_ID,
    EMBED_ID,
    PLAN_ID,
    READ_ID,
    WRITE_ID,
    ingest_settings,
)
from hypothesis import given
from hypothesis import strategies as st
from rag_doubles import HashEmbedder, fast_retry_spec

SRC = Path(__file__).resolve().parents[1] / "src" / "funcpipe_rag"
CODES = sorted(
    {v for k, v in vars(codes).items() if k.isupper() and isinstance(v, str)}
    | {"NO_SPACE", "STORE_LOCKED", "INGEST_RUNNING", "OVERLOADED"}
)


@given(st.sampled_from(CODES), st.sampled_from([*Stage, ""]))
def test_every_failure_has_one_class_that_exit_codes_and_statuses_follow(
    code: str, stage: str
) -> None:
    e = ErrInfo(code, "some message", stage)
    failure = classify(e)
    assert (failure, exit_code(e)) in {
        (Failure.USAGE, 2),
        (Failure.BACKEND, 3),
        (Failure.CANCELLED, 130),
        (Failure.UNEXPECTED, 1),
    }
    status = http_status(e)
    if failure is Failure.USAGE:
        assert 400 <= status < 500
    elif failure in (Failure.BACKEND, Failure.CANCELLED):
        assert status == 503 or status in (401, 403, 404, 409, 413)
    # a class the server sent wins, whatever the code and stage (the client never guesses)
    for sent in Failure:
        relayed = ErrInfo(code, "x", Stage.SERVER, ctx={"class": sent.value})
        assert classify(relayed) is sent


def test_hints_read_codes_never_message_text(tmp_path: Path) -> None:
    settings = Settings.model_construct(data_dir=tmp_path / ".funcpipe")
    worded = ErrInfo(codes.DB_ERROR, "the lock file is already accessed", Stage.STORE)
    locked = ErrInfo("STORE_LOCKED", "edge open on 'x': engine said no", Stage.STORE)
    assert "another funcpipe-rag process" not in hint(worded, settings)
    assert "another funcpipe-rag process" in hint(locked, settings)
    assert exit_code(locked) == 3


class AlwaysTransient(HashEmbedder):
    """Every embedding request fails with TRANSIENT (retriable)."""

    def embed(self, texts: Sequence[str]) -> AsyncPlan[list[list[float]]]:
        async def _run() -> Result[list[list[float]], ErrInfo]:
            self.calls += 1
            return Err(ErrInfo(codes.TRANSIENT, "busy"))

        return _run


def _docs(root: Path, names: dict[str, bytes]) -> Path:
    docs = root / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for name, data in names.items():
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_bytes(data)
    return docs


def test_an_embedding_request_is_tried_exactly_max_attempts_times(tmp_path: Path) -> None:
    docs = _docs(tmp_path, {"a.md": b"# A\n\nOne paragraph of words.\n"})
    spec = fast_retry_spec("r", attempts=3, group=4, embed_batch=8, concurrency=1, write_group=4)
    failing = AlwaysTransient(8)
    settings = Settings.model_construct(data_dir=tmp_path / "data", collection="retry")
    report = asyncio.run(
        run_ingest(
            settings,
            ingest_settings(spec).unwrap(),
            [str(docs)],
            base=tmp_path,
            embedder=EmbedderPort(failing),
        )
    )
    assert isinstance(report, Ok), report
    assert [e.code for e in report.value.errors] == [codes.MAX_RETRIES]
    assert failing.calls == 3


class Unhurried(HashEmbedder):
    """Answers each request after ``delay_s`` (well inside any one request's timeout)."""

    def __init__(self, dim: int, delay_s: float) -> None:
        super().__init__(dim)
        self.delay_s = delay_s

    def embed(self, texts: Sequence[str]) -> AsyncPlan[list[list[float]]]:
        inner = super().embed(texts)

        async def _run() -> Result[list[list[float]], ErrInfo]:
            await asyncio.sleep(self.delay_s)
            return await inner()

        return _run


def test_the_embed_timeout_bounds_each_request_not_the_whole_group(tmp_path: Path) -> None:
    """40 requests of 50 ms in one group, one at a time, under a 1.5 s timeout: each request
    is far inside it, their sum (2 s) is not. A timeout around the group (the old double
    application) failed every source; applied once, per request, the run succeeds."""
    words = " ".join(f"w{i}x" for i in range(400))
    docs = _docs(tmp_path, {"long.md": f"# Long\n\n{words}\n".encode()})
    retry = RetryPolicy(max_attempts=1)
    spec = pipeline_spec(
        "timeouts",
        [
            map_op(DESCRIBE_ENTRIES[READ_ID]),
            flat_map_op(DESCRIBE_ENTRIES[DOCS_ID]),
            batch_map_op(
                DESCRIBE_ENTRIES[PLAN_ID],
                chunk=ChunkPolicy(max_units=8, max_delay_ms=0),
                params={"chunk_chars": 50, "chunk_overlap": 0},
            ),
            batch_map_op(
                DESCRIBE_ENTRIES[EMBED_ID],
                params={"embed_batch": 1},
                chunk=ChunkPolicy(max_units=8, max_delay_ms=0),
                retry=retry,
                timeout=TimeoutPolicy(timeout_ms=1_500),
                backpressure=BackpressurePolicy(max_concurrent=1),
            ),
            batch_map_op(
                DESCRIBE_ENTRIES[WRITE_ID], chunk=ChunkPolicy(max_units=8, max_delay_ms=0)
            ),
        ],
    )
    slow = Unhurried(8, 0.05)
    settings = Settings.model_construct(data_dir=tmp_path / "data", collection="slow")
    report = asyncio.run(
        run_ingest(
            settings,
            ingest_settings(spec).unwrap(),
            [str(docs)],
            base=tmp_path,
            embedder=EmbedderPort(slow),
        )
    )
    assert isinstance(report, Ok), report
    assert report.value.errors == []
    assert slow.calls >= 40  # one request per chunk: the group's sum is past the timeout


def test_a_failure_protects_exactly_its_own_file_from_prune(tmp_path: Path) -> None:
    """``x#1.md`` fails to decode; ``x/gone.md`` was deleted: the prune removes ``x/gone.md``
    (a key split at ``#`` would have protected the whole ``x`` folder)."""
    docs = _docs(
        tmp_path,
        {"x#1.md": b"# One\n\nFine text.\n", "x/gone.md": b"# Gone\n\nSoon deleted.\n"},
    )
    settings = Settings.model_construct(data_dir=tmp_path / "data", collection="hash")
    emb = EmbedderPort(HashEmbedder(8))

    def run() -> Result[object, ErrInfo]:
        return asyncio.run(
            run_ingest(
                settings, DEFAULT_SETTINGS, [str(docs)], base=tmp_path, embedder=emb, prune=True
            )
        )

    first = run()
    assert isinstance(first, Ok), first
    (docs / "x#1.md").write_bytes(b"\xff\xfe not utf-8 \xff")
    (docs / "x" / "gone.md").unlink()
    second = asyncio.run(
        run_ingest(settings, DEFAULT_SETTINGS, [str(docs)], base=tmp_path, embedder=emb, prune=True)
    )
    assert isinstance(second, Ok), second
    report = second.value
    assert [e.source for e in report.errors] == ["docs/x#1.md"]
    assert report.sources_deleted == 1  # docs/x/gone.md, and nothing the failure protects


def test_one_walk_per_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = _docs(tmp_path, {f"p{i}.md": f"# P{i}\n\nWords {i}.\n".encode() for i in range(3)})
    walks: list[int] = []
    real = RootsSource.sources

    def counting(self: RootsSource) -> object:
        walks.append(1)
        return real(self)

    monkeypatch.setattr(RootsSource, "sources", counting)
    settings = Settings.model_construct(data_dir=tmp_path / "data", collection="walk")
    emb = EmbedderPort(HashEmbedder(8))
    got = asyncio.run(
        run_ingest(settings, DEFAULT_SETTINGS, [str(docs)], base=tmp_path, embedder=emb)
    )
    assert isinstance(got, Ok), got
    assert got.value.sources_added == 3
    assert walks == [1]


def test_the_app_never_probes_library_objects_with_getattr() -> None:
    probes = re.compile(r"getattr\([^)]*[\"'](aclose|indexed_vectors|close)[\"']")
    found = [
        f"{p.relative_to(SRC)}:{n}"
        for p in SRC.rglob("*.py")
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if probes.search(line)
    ]
    assert found == []


def test_one_readable_per_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import funcpipe_rag.domain._chunk as chunk_module
    import funcpipe_rag.domain._parse as parse_module
    from funcpipe_rag.domain import Readable, readable

    docs = _docs(tmp_path, {f"p{i}.md": f"# P{i}\n\nWords about {i}.\n".encode() for i in range(4)})
    calls: list[str] = []
    real = readable

    def counting(text: str, kind: str) -> Readable:
        calls.append(kind)
        return real(text, kind)

    monkeypatch.setattr(parse_module, "readable", counting)
    monkeypatch.setattr(chunk_module, "readable", counting)
    settings = Settings.model_construct(data_dir=tmp_path / "data", collection="once")
    emb = EmbedderPort(HashEmbedder(8))
    got = asyncio.run(
        run_ingest(settings, DEFAULT_SETTINGS, [str(docs)], base=tmp_path, embedder=emb)
    )
    assert isinstance(got, Ok), got
    assert got.value.sources_added == 4
    assert calls == ["md"] * 4  # parsed once each; chunking reuses the view
