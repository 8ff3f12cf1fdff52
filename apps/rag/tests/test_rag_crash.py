"""Crash consistency: SIGKILL the ingest process after its N-th store write, for many N, then
re-run; the store must equal a clean run's (ids, payloads, counts) and verify must pass.

The killed run is a real subprocess writing to a real Qdrant Edge store on disk. The kill point
is varied deliberately across the whole run (adds, updates with vector reuse, prunes).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from funcpipe.policies import ChunkPolicy, RetryPolicy
from funcpipe.result import Err, ErrInfo, Ok, Result
from funcpipe.specs import PipelineSpec, batch_map_op, flat_map_op, map_op, pipeline_spec, serialize
from funcpipe_rag.adapters import EmbedderPort
from funcpipe_rag.app import Settings, open_backends, run_ingest
from funcpipe_rag.domain import verify_records
from funcpipe_rag.pipelines import (
    DESCRIBE_ENTRIES,
    DOCS_ID,
    EMBED_ID,
    PLAN_ID,
    READ_ID,
    WRITE_ID,
    ingest_settings,
)
from rag_doubles import HashEmbedder

T = TypeVar("T")

SUPPORT = str(Path(__file__).parent / "support")

WRAPPER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path

    from funcpipe.adapters.edge import EdgeStore
    from funcpipe.adapters.runtime import run_main
    sys.path.insert(0, sys.argv[5])
    from funcpipe_rag.adapters import EmbedderPort
    from funcpipe_rag.app import Settings, read_spec, run_ingest
    from rag_doubles import HashEmbedder

    kill_at, data, base, spec_file = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    writes = [0]

    def counting(name):
        original = getattr(EdgeStore, name)

        def patched(self, *args, **kwargs):
            plan = original(self, *args, **kwargs)

            async def run():
                res = await plan()
                writes[0] += 1
                if writes[0] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                return res

            return run

        setattr(EdgeStore, name, patched)

    counting("upsert")
    counting("delete_ids")
    spec = read_spec(Path(spec_file)).unwrap()
    settings = Settings.model_construct(data_dir=Path(data), collection="crash")
    res = run_main(lambda: run_ingest(
        settings, spec, [str(Path(base) / "docs")], base=Path(base), prune=True,
        embedder=EmbedderPort(HashEmbedder(16)),
    ))
    assert res.is_ok() and res.unwrap().is_ok(), res
    print(writes[0])
    """
)

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
WORDS += ["eta", "theta", "iota", "kappa", "lambda", "mu"]


def para(i: int) -> str:
    return " ".join(WORDS[(i + j) % len(WORDS)] for j in range(12)) + f" number {i}."


def corpus_v1() -> dict[str, str]:
    return {f"d{n}.md": "\n\n".join(para(n * 3 + k) for k in range(4)) for n in range(8)}


def corpus_v2() -> dict[str, str]:
    docs = corpus_v1()
    docs["d1.md"] = docs["d1.md"] + "\n\n" + para(99)  # grows: new chunk, kept chunks
    docs["d2.md"] = para(100) + "\n\n" + docs["d2.md"]  # offsets of every kept chunk shift
    docs["d3.md"] = para(101)  # shrinks: stale chunks deleted
    del docs["d4.md"]  # pruned
    docs["new.md"] = "\n\n".join(para(200 + k) for k in range(3))
    return docs


def write_docs(base: Path, docs: dict[str, str]) -> None:
    d = base / "docs"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    for name, text in docs.items():
        (d / name).write_text(text)


def crash_spec() -> PipelineSpec:
    retry = RetryPolicy(max_attempts=2, backoff_base_ms=0, jitter_factor=0.0)
    return pipeline_spec(
        "rag-crash",
        [
            map_op(DESCRIBE_ENTRIES[READ_ID]),
            flat_map_op(DESCRIBE_ENTRIES[DOCS_ID]),
            batch_map_op(
                DESCRIBE_ENTRIES[PLAN_ID],
                chunk=ChunkPolicy(max_units=2, max_delay_ms=0),
                params={"chunk_chars": 100, "chunk_overlap": 0},
            ),
            batch_map_op(
                DESCRIBE_ENTRIES[EMBED_ID],
                chunk=ChunkPolicy(max_units=2, max_delay_ms=0),
                retry=retry,
            ),
            batch_map_op(
                DESCRIBE_ENTRIES[WRITE_ID],
                params={"upsert_batch": 3},
                chunk=ChunkPolicy(max_units=2, max_delay_ms=0),
            ),
        ],
    )


def drive(main: Callable[[], Coroutine[object, object, Result[T, ErrInfo]]]) -> T:
    res = asyncio.run(main())
    assert isinstance(res, Ok), res
    return res.value


def settings_for(data: Path) -> Settings:
    return Settings.model_construct(data_dir=data, collection="crash")


def ingest_here(data: Path, base: Path, spec: PipelineSpec) -> None:
    drive(
        lambda: run_ingest(
            settings_for(data),
            ingest_settings(spec).unwrap(),
            [str(base / "docs")],
            base=base,
            prune=True,
            embedder=EmbedderPort(HashEmbedder(16)),
        )
    )


def store_state(data: Path) -> dict[str, dict[str, object]]:
    async def _scan() -> Result[dict[str, dict[str, object]], ErrInfo]:
        emb = EmbedderPort(HashEmbedder(16))
        async with open_backends(settings_for(data), "crash", embedder=emb) as b:
            if isinstance(b, Err):
                return b
            got = await b.value.index.scan()()
            if isinstance(got, Err):
                return got
            records, corrupt = got.value
            assert corrupt == []
            report = verify_records(records)
            assert report.ok, report.problems
            return Ok({r.id: r.payload() for r in records})

    return drive(_scan)


def run_killed(
    data: Path, base: Path, spec_file: Path, kill_at: int
) -> subprocess.CompletedProcess[str]:
    script = base / "wrapper.py"
    script.write_text(WRAPPER)
    return subprocess.run(
        [sys.executable, str(script), str(kill_at), str(data), str(base), str(spec_file), SUPPORT],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def fork_killed(data: Path, base: Path, spec: PipelineSpec, kill_at: int) -> tuple[bool, int]:
    """Run the ingest in a forked child that SIGKILLs itself after its ``kill_at``-th store
    write (0: never). Returns (killed, writes done by a child that was not killed)."""
    from funcpipe.adapters.edge import EdgeStore

    out = base / f"writes-{kill_at}.txt"
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 3
        try:
            writes = [0]
            for name in ("upsert", "delete_ids"):
                original = getattr(EdgeStore, name)

                def patched(
                    self: object, *args: object, _o: Any = original, **kw: object
                ) -> object:
                    plan = _o(self, *args, **kw)

                    async def run() -> object:
                        res = await plan()
                        writes[0] += 1
                        if writes[0] == kill_at:
                            os.kill(os.getpid(), signal.SIGKILL)
                        return res

                    return run

                setattr(EdgeStore, name, patched)
            ingest_here(data, base, spec)
            out.write_text(str(writes[0]))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True, 0
    assert os.WEXITSTATUS(status) == 0
    return False, int(out.read_text())


def kill_points(total: int, wanted: int) -> list[int]:
    if total <= wanted:
        return list(range(1, total + 1))
    return sorted({1 + round(i * (total - 1) / (wanted - 1)) for i in range(wanted)})


def test_sigkill_at_many_points_then_rerun_equals_a_clean_run(tmp_path: Path) -> None:
    spec = crash_spec()
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(serialize(spec))
    base = tmp_path / "work"

    # Reference: v1 clean, then v2 clean (no crash).
    write_docs(base, corpus_v1())
    v1 = tmp_path / "v1"
    ingest_here(v1, base, spec)
    v1_state = store_state(v1)
    write_docs(base, corpus_v2())
    reference = tmp_path / "ref"
    shutil.copytree(v1, reference)
    killed_ref, total = fork_killed(reference, base, spec, kill_at=0)  # counts the writes
    assert not killed_ref
    assert total >= 12
    clean = store_state(reference)
    assert clean != v1_state

    points = kill_points(total, 12)
    assert len(points) >= 12
    killed = 0
    for n in points:
        data = tmp_path / f"kill{n}"
        shutil.copytree(v1, data)
        was_killed, _ = fork_killed(data, base, spec, kill_at=n)
        killed += was_killed
        ingest_here(data, base, spec)
        assert store_state(data) == clean, f"kill after write {n} of {total}"  # and verify ok
        shutil.rmtree(data)
    assert killed == len(points)


def test_sigkill_during_a_first_ingest_then_rerun_equals_a_clean_run(tmp_path: Path) -> None:
    spec = crash_spec()
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(serialize(spec))
    base = tmp_path / "work"
    write_docs(base, corpus_v1())
    ref = tmp_path / "ref"
    ingest_here(ref, base, spec)
    clean = store_state(ref)
    for n in (1, 6):  # a real separate process started from a wrapper script
        data = tmp_path / f"first{n}"
        res = run_killed(data, base, spec_file, kill_at=n)
        assert res.returncode == -9, res.stderr
        ingest_here(data, base, spec)
        assert store_state(data) == clean
