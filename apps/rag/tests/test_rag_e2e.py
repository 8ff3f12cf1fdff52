"""End to end on real files: embedded defaults (Qdrant Edge + the bundled static model),
qdrant-client local mode, and the HTTP embedder against the loopback server; the CLI contract.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import TypeVar

import pytest
from funcpipe.result import Ok, codes
from funcpipe.specs import PipelineSpec, serialize
from funcpipe.testing.embeddings_server import EmbeddingsServer, Fault
from funcpipe_rag.app import Settings, read_spec, run_ingest, run_search, run_verify
from funcpipe_rag.cli import cli
from funcpipe_rag.pipelines import DEFAULT_SETTINGS, DEFAULT_SPEC, IngestReport, IngestSettings
from rag_doubles import HashEmbedder, drive, fast_retry_spec, stored
from typer.testing import CliRunner

T = TypeVar("T")

PAGES = {
    "retry.md": "# Retries\n\nA retry policy waits with exponential backoff and jitter between "
    "attempts, and honours the Retry-After header of a rate-limited server.\n\n"
    "Only transient errors are retried.\n",
    "store.md": "# Vector store\n\nQdrant Edge runs the Qdrant engine inside the process. "
    "Points are upserted by stable ids, so writing the same chunk twice changes nothing.\n",
    "html/page.html": "<html><head><title>Streams</title><script>var x=1;</script></head><body>"
    "<h1>Streams</h1><p>A bounded map keeps at most eight calls in flight and keeps the order "
    "of results.</p></body></html>",
    "notes.jsonl": '{"id": "a", "text": "Specs are pipelines as data, hashed and shipped."}\n'
    '{"id": "b", "text": "Chunk offsets point back into the document text exactly."}\n',
}


def write_corpus(root: Path) -> Path:
    docs = root / "docs"
    for name, text in PAGES.items():
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_text(text)
    return docs


def ingest(
    settings: Settings, root: Path, *, spec: IngestSettings = DEFAULT_SETTINGS, **kw: object
) -> IngestReport:
    return drive(lambda: run_ingest(settings, spec, [str(root / "docs")], base=root, **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["edge", "qdrant-local"])
def test_embedded_backends_end_to_end(tmp_path: Path, backend: str) -> None:
    docs = write_corpus(tmp_path)
    if backend == "edge":
        settings = Settings.model_construct(data_dir=tmp_path / "data", collection="e2e")
    else:
        settings = Settings.model_construct(
            data_dir=tmp_path / "data", collection="e2e", qdrant_path=tmp_path / "q"
        )
    first = ingest(settings, tmp_path)
    assert (first.sources_added, first.errors) == (5, [])
    assert first.chunks_embedded == first.chunks_upserted >= 5

    again = ingest(settings, tmp_path)
    assert (
        again.sources_unchanged,
        again.chunks_embedded,
        again.chunks_upserted,
        again.chunks_deleted,
    ) == (5, 0, 0, 0)

    hits = drive(lambda: run_search(settings, "exponential backoff between attempts", 3))
    assert hits[0].source == "docs/retry.md"
    text = (docs / "retry.md").read_text()
    mine = [h for h in hits if h.source == "docs/retry.md"]
    # readable text; its span in the source starts and ends with it and holds its words
    assert all(text[h.start] == h.text[0] and text[h.end - 1] == h.text[-1] for h in mine)
    assert all(w in text[h.start : h.end] for h in mine for w in h.text.split())

    # Edit: a prepended paragraph re-embeds only the new chunk content; the kept chunks'
    # offsets are rewritten with their vectors read back from the store (no re-embedding).
    long = "\n\n".join(
        f"Section {i}. " + "Points are upserted by stable ids. " * 20 for i in range(4)
    )
    (docs / "store.md").write_text(long)
    grown = ingest(settings, tmp_path)
    assert grown.sources_updated == 1
    assert grown.chunks_embedded >= 4
    # (a paragraph, not a heading: a new heading would change the context line every chunk
    # under it is embedded with, and re-embed them all, rightly)
    (docs / "store.md").write_text("A new first paragraph.\n\n" + long)
    edited = ingest(settings, tmp_path)
    assert (edited.sources_updated, edited.sources_unchanged) == (1, 4)
    assert 1 <= edited.chunks_embedded < edited.chunks_upserted  # vectors were read back
    (docs / "retry.md").unlink()
    pruned = ingest(settings, tmp_path, prune=True)
    assert pruned.sources_deleted == 1
    found, _ = drive(lambda: run_verify(settings, repair=False))
    assert found.ok
    assert found.sources == 4

    # The store equals a clean run over the final files.
    fresh = Settings.model_construct(
        data_dir=tmp_path / "fresh",
        collection="e2e",
        qdrant_path=(tmp_path / "q2") if backend != "edge" else None,
    )
    ingest(fresh, tmp_path)
    assert stored(settings) == stored(fresh)


def e2e_spec() -> PipelineSpec:
    return fast_retry_spec(
        "rag-e2e-http", attempts=6, group=2, embed_batch=2, concurrency=1, write_group=4
    )


def test_http_embedder_with_faults_through_a_spec_file(tmp_path: Path) -> None:
    write_corpus(tmp_path)
    hasher = HashEmbedder(32)

    def embed_fn(texts: list[str]) -> list[list[float]]:
        return [hasher.vector(t) or [1.0] + [0.0] * 31 for t in texts]

    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(serialize(e2e_spec(), "yaml"))
    spec = read_spec(spec_file)
    assert isinstance(spec, Ok)
    with EmbeddingsServer(embed_fn, model="hash-32") as server:
        settings = Settings.model_construct(
            data_dir=tmp_path / "data",
            collection="http",
            embed_url=server.base_url,
            embed_model="hash-32",
            embed_dim=32,
        )
        server.push(
            Fault.rate_limited(retry_after=0),
            Fault.status_error(503),
            Fault.drop(),
            Fault.shuffled(),
        )
        report = ingest(settings, tmp_path, spec=spec.value)
        assert report.errors == []
        assert server.pending_faults() == 0
        assert report.sources_added == 5
        hits = drive(lambda: run_search(settings, "bounded map calls in flight", 2))
        assert hits[0].source == "docs/html/page.html"
        assert {h.chunk_id for h in hits} <= set(stored(settings))
        # A dead endpoint is a backend failure, reported per source.
        settings_dead = Settings.model_construct(
            data_dir=tmp_path / "data2",
            collection="http",
            embed_url=server.base_url,
            embed_model="hash-32",
            embed_dim=32,
        )
        server.push(*[Fault.status_error(401, message="bad key")] * 20)
        dead = ingest(settings_dead, tmp_path, spec=spec.value)
        assert dead.backend_failed
        assert {e.code for e in dead.errors} == {codes.AUTH}


# -- the CLI contract --------------------------------------------------------------------------

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(cli, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_cli_json_contract_and_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in (
        "FUNCPIPE_QDRANT_URL",
        "FUNCPIPE_EMBED_URL",
        "FUNCPIPE_DATA_DIR",
        "FUNCPIPE_COLLECTION",
    ):
        monkeypatch.delenv(var, raising=False)
    write_corpus(tmp_path)
    (tmp_path / "docs" / "bad.odt").write_bytes(b"PK\x03\x04")
    code, out, _ = invoke("ingest", "docs", "--json")
    assert code == 0  # inside a walked folder an unknown type is skipped and counted
    summary = json.loads(out)
    assert list(summary) == [
        "sources_seen",
        "sources_unchanged",
        "sources_added",
        "sources_updated",
        "sources_deleted",
        "sources_skipped",
        "chunks_embedded",
        "chunks_reused",
        "chunks_upserted",
        "chunks_deleted",
        "errors",
    ]
    assert summary["sources_skipped"] == {".odt": 1}
    assert summary["errors"] == []
    code, out, _ = invoke("ingest", "docs/bad.odt", "--json")  # named explicitly: UNSUPPORTED
    assert code == 4
    summary = json.loads(out)
    assert summary["errors"] == [
        {"source": "docs/bad.odt", "code": "UNSUPPORTED", "msg": summary["errors"][0]["msg"]}
    ]
    (tmp_path / "docs" / "bad.odt").unlink()
    code, out, _ = invoke("ingest", "docs", "--json")
    assert code == 0
    assert json.loads(out)["chunks_embedded"] == 0

    code, out, _ = invoke("search", "Qdrant engine inside the process", "-k", "2", "--json")
    assert code == 0
    hits = json.loads(out)
    keys = ["score", "source", "chunk_id", "start", "end", "text", "title", "headings"]
    assert [list(h) for h in hits] == [keys] * 2
    assert hits[0]["score"] >= hits[1]["score"]

    code, out, _ = invoke("verify", "--json")
    assert code == 0
    assert json.loads(out) == {
        "ok": True,
        "sources": 5,
        "points": json.loads(out)["points"],
        "problems": [],
    }

    code, out, err = invoke("search", "anything", "--collection", "never_made")
    assert code == 2
    assert "ingest" in err
    assert "Traceback" not in err + out


def test_cli_specs_good_and_bad(tmp_path: Path) -> None:
    code, out, _ = invoke("spec", "hash")
    assert (code, out.strip()) == (0, DEFAULT_SPEC.version)
    code, out, _ = invoke("spec", "show", "--format", "json")
    assert code == 0
    assert json.loads(out)["version"] == DEFAULT_SPEC.version
    good = tmp_path / "good.yaml"
    code, out, _ = invoke("spec", "show")
    good.write_text(out)
    assert invoke("spec", "validate", str(good))[0] == 0
    assert invoke("spec", "hash", str(good))[1].strip() == DEFAULT_SPEC.version

    tampered = tmp_path / "tampered.yaml"
    tampered.write_text(out.replace("chunk_chars: 800", "chunk_chars: 900"))
    python_tag = tmp_path / "tag.yaml"
    python_tag.write_text("name: !!python/object/apply:os.system ['echo pwned']\nops: []\n")
    malformed = tmp_path / "bad.json"
    malformed.write_text("{not json")
    oversized = tmp_path / "big.json"
    oversized.write_text('{"name": "' + "x" * 300_000 + '"}')
    unknown_op = tmp_path / "unknown.json"
    data = json.loads(serialize(DEFAULT_SPEC))
    data["ops"][0]["func_id"] = "evil.op"
    unknown_op.write_text(json.dumps(data))
    for f, code_name in [
        (tampered, codes.HASH_MISMATCH),
        (python_tag, codes.INVALID_SPEC),
        (malformed, codes.INVALID_SPEC),
        (oversized, codes.INVALID_SPEC),
        (unknown_op, None),
        (tmp_path / "missing.yaml", codes.INVALID_SPEC),
    ]:
        code, out, err = invoke("spec", "validate", str(f))
        assert code == 2, (f, out, err)
        assert len(err.strip().splitlines()) == 1, err
        assert "Fix:" in err
        assert "Traceback" not in err
        if code_name:
            assert f"[{code_name}]" in err
        code, _, err = invoke("ingest", str(tmp_path), "--spec", str(f), "--dry-run")
        assert code == 2


def test_cli_spec_seal_after_a_deliberate_edit(tmp_path: Path) -> None:
    code, out, _ = invoke("spec", "show")
    edited = tmp_path / "edited.yaml"
    edited.write_text(out.replace("chunk_chars: 800", "chunk_chars: 600"))
    code, _, err = invoke("spec", "validate", str(edited))
    assert code == 2
    assert "[HASH_MISMATCH]" in err
    assert "spec seal" in err  # the one-line error names the fix
    code, sealed_text, _ = invoke("spec", "seal", str(edited))
    assert code == 0
    sealed = tmp_path / "sealed.yaml"
    sealed.write_text(sealed_text)
    assert invoke("spec", "validate", str(sealed))[0] == 0
    new_hash = invoke("spec", "hash", str(sealed))[1].strip()
    assert new_hash != DEFAULT_SPEC.version
    assert "chunk_chars: 600" in sealed_text
    json_spec = tmp_path / "edited.json"
    json_spec.write_text(invoke("spec", "show", "--format", "json")[1])
    code, out, _ = invoke("spec", "seal", str(json_spec))
    assert code == 0
    assert json.loads(out)["version"] == DEFAULT_SPEC.version  # an unedited spec is unchanged
    tagged = tmp_path / "tag.yaml"
    tagged.write_text("name: !!python/object/apply:os.system ['true']\nops: []\n")
    code, out, err = invoke("spec", "seal", str(tagged))
    assert (code, out) == (2, "")
    assert "[INVALID_SPEC]" in err
    assert len(err.strip().splitlines()) == 1


def test_cli_help_explains_every_command() -> None:
    code, out, _ = invoke("--help")
    assert code == 0
    for name in ("ingest", "search", "verify", "spec", "demo"):
        assert name in out
    for cmd in (
        ["ingest"],
        ["search"],
        ["verify"],
        ["spec", "show"],
        ["spec", "validate"],
        ["spec", "hash"],
        ["demo"],
    ):
        code, out, _ = invoke(*cmd, "--help")
        assert code == 0
        assert len(out.split()) > 15
    code, _, _ = invoke("ingest", "--no-such-flag", "x")
    assert code == 2


def test_console_script_runs_and_exits_cleanly_when_piped(tmp_path: Path) -> None:
    write_corpus(tmp_path)
    exe = Path(sys.executable).parent / "funcpipe-rag"
    res = subprocess.run(
        [str(exe), "ingest", "docs", "--data-dir", "d", "--dry-run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "Dry run" in res.stdout
    assert "\x1b[" not in res.stdout + res.stderr  # no progress bar or colours when piped
    assert not (tmp_path / "d" / "edge" / "funcpipe" / "segments").exists()


def test_unreachable_qdrant_server_is_one_line_and_exit_3(tmp_path: Path) -> None:
    """A backend that is down: exit 3 and exactly one line on stderr (no library warning)."""
    exe = Path(sys.executable).parent / "funcpipe-rag"
    with socket.socket() as s:  # a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = subprocess.run(
        [str(exe), "search", "anything", "--qdrant-url", f"http://127.0.0.1:{port}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 3, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "[NETWORK]" in res.stderr
    assert "Fix:" in res.stderr
