"""funcpipe-rag serve against a real uvicorn on a loopback port, driven with httpx.

Every endpoint and error status, auth, limits, the allowed roots and the URL guard, a job's
report equal to the CLI's, searches answered while a job runs, SIGTERM during a job then a
re-run converging with verify ok. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import http.server
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from rag_doubles import KEY, Server, clean_env, cli, start


def corpus(root: Path, n: int = 6) -> Path:
    docs = root / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        body = f"# Topic {i}\n\nQdrant edge note {i}: " + " ".join(f"w{i}x{j}" for j in range(60))
        (docs / f"doc{i}.md").write_text(body + "\n", "utf-8")
    return docs


def wait_job(c: httpx.Client, job: str) -> dict[str, object]:
    for _ in range(600):
        doc: dict[str, object] = c.get(f"/v1/jobs/{job}").json()
        if doc["status"] not in ("queued", "running"):
            return doc
        time.sleep(0.05)
    raise AssertionError("job did not finish")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    root = tmp_path_factory.mktemp("serve")
    docs = corpus(root)
    (root / "outside").mkdir()
    (root / "outside" / "secret.md").write_text("# no\n\nnot allowed\n", "utf-8")
    server = start(root, root / "store", "--allow-root", str(docs))
    with server.client() as c:
        job = c.post("/v1/ingest", json={"paths": [str(docs)]}).json()["job"]
        assert wait_job(c, job)["status"] == "done"
    yield server, root
    assert server.stop() == 0


def test_health_ready_and_request_ids(served: tuple[Server, Path]) -> None:
    server, _ = served
    with server.client(key=None) as c:
        cors = c.get("/healthz", headers={"origin": "http://ui.test"})
        assert "access-control-allow-origin" not in cors.headers  # CORS off by default
        assert c.get("/healthz").json() == {"status": "ok"}
        ready = c.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["collection"] == "funcpipe"
        assert re.fullmatch(r"[0-9a-f]{32}", ready.headers["x-request-id"])
        assert c.get("/healthz", headers={"x-request-id": "abc-1"}).headers["x-request-id"] == (
            "abc-1"
        )


def test_auth_missing_wrong_right(served: tuple[Server, Path]) -> None:
    server, _ = served
    body = {"query": "qdrant", "k": 1}
    with server.client(key=None) as c:
        missing = c.post("/v1/search", json=body)
        assert missing.status_code == 401
        assert missing.json()["code"] == "AUTH"
        assert "x-request-id" in missing.headers
    with server.client(key="wrong") as c:
        wrong = c.post("/v1/search", json=body)
        assert wrong.status_code == 401
        assert wrong.json() == {"code": "AUTH", "msg": "wrong bearer key", "class": "usage"}
    with server.client() as c:
        assert c.post("/v1/search", json=body).status_code == 200


def test_search_hits_equal_the_cli_shape_and_best_first(served: tuple[Server, Path]) -> None:
    server, _ = served
    with server.client() as c:
        r = c.post("/v1/search", json={"query": "note 3 w3x5", "k": 3})
    assert r.status_code == 200
    hits = r.json()
    assert len(hits) == 3
    assert {"score", "source", "chunk_id", "start", "end", "text"} <= set(hits[0])
    assert hits[0]["source"] == "docs/doc3.md"
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_search_caps_per_source_and_filters_as_the_cli(served: tuple[Server, Path]) -> None:
    server, root = served
    with server.client() as c:
        capped = c.post("/v1/search", json={"query": "qdrant edge note", "k": 6, "per_source": 1})
        some = c.post(
            "/v1/search",
            json={"query": "qdrant edge note", "k": 6, "source": ["docs/doc[12].md"]},
        )
        titled = c.post(
            "/v1/search",
            json={"query": "note", "k": 6, "where": {"title": ["Topic 4", "Topic 5"]}},
        )
        bad = c.post("/v1/search", json={"query": "note", "where": {"colour": "red"}})
    assert capped.status_code == some.status_code == titled.status_code == 200
    sources = [h["source"] for h in capped.json()]
    assert len(sources) == len(set(sources)) == 6
    assert {h["source"] for h in some.json()} == {"docs/doc1.md", "docs/doc2.md"}
    assert {h["title"] for h in titled.json()} == {"Topic 4", "Topic 5"}
    assert bad.status_code == 400
    assert bad.json()["code"] == "INVALID_INPUT"
    assert "colour" in bad.json()["msg"]
    via_cli = cli(
        root,
        *("search", "qdrant edge note", "-k", "6", "--per-source", "1", "--json"),
        *("--server", server.url),
        key=KEY,
    )
    assert via_cli.returncode == 0, via_cli.stderr
    assert [h["source"] for h in json.loads(via_cli.stdout)] == sources


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"query": "", "k": 1}, 400),
        ({"query": "x", "k": 0}, 400),
        ({"query": "x", "k": 1001}, 400),
        ({"query": "x", "k": 1, "extra": 1}, 400),
        ({"k": 1}, 400),
        ({"query": "x" * 2001}, 400),
    ],
)
def test_search_invalid_input_is_400(
    served: tuple[Server, Path], body: dict[str, object], code: int
) -> None:
    server, _ = served
    with server.client() as c:
        r = c.post("/v1/search", json=body)
    assert r.status_code == code
    assert r.json()["code"] == "INVALID_INPUT"
    assert set(r.json()) == {"code", "msg", "class"}


def test_not_json_unknown_route_wrong_method(served: tuple[Server, Path]) -> None:
    server, _ = served
    with server.client() as c:
        bad = c.post(
            "/v1/search", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert bad.status_code == 400
        assert bad.json()["code"] == "INVALID_INPUT"
        nf = c.get("/v1/nope")
        assert (nf.status_code, nf.json()["code"]) == (404, "NOT_FOUND")
        wm = c.get("/v1/search")
        assert (wm.status_code, wm.json()["code"]) == (405, "METHOD_NOT_ALLOWED")
        job = c.get("/v1/jobs/0123")
        assert (job.status_code, job.json()["code"]) == (404, "NOT_FOUND")


def test_limits_body_and_query(served: tuple[Server, Path]) -> None:
    server, _ = served
    with server.client() as c:
        big = c.post(
            "/v1/search",
            content=b'{"query": "' + b"a" * (2 << 20) + b'"}',
            headers={"content-type": "application/json"},
        )
        assert (big.status_code, big.json()["code"]) == (413, "TOO_LARGE")

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
            yield b'{"query": "'
            for _ in range(40):
                yield b"a" * 65536
            yield b'"}'

        streamed = c.post(
            "/v1/search", content=chunks(), headers={"content-type": "application/json"}
        )
        assert (streamed.status_code, streamed.json()["code"]) == (413, "TOO_LARGE")
        long_q = c.get("/v1/sources", params={"q": "x" * 5000})
        assert (long_q.status_code, long_q.json()["code"]) == (414, "TOO_LARGE")


def test_sources_stats_delete(served: tuple[Server, Path]) -> None:
    server, _ = served
    with server.client() as c:
        sources = c.get("/v1/sources").json()
        keys = [s["source"] for s in sources]
        assert keys == sorted(keys)
        assert "docs/doc0.md" in keys
        stats = c.get("/v1/stats").json()
        assert stats["sources"] == len(keys)
        assert stats["chunks"] >= len(keys)
        gone = c.delete("/v1/sources/docs/doc5.md")
        assert gone.status_code == 200
        assert gone.json()["deleted"] == ["docs/doc5.md"]
        assert "docs/doc5.md" not in [s["source"] for s in c.get("/v1/sources").json()]
        again = c.delete("/v1/sources/docs/doc5.md")
        assert (again.status_code, again.json()["code"]) == (404, "NOT_FOUND")
        assert c.get("/v1/verify").json()["ok"] is True


def test_ingest_guard_roots_and_private_urls(served: tuple[Server, Path]) -> None:
    server, root = served
    with server.client() as c:
        outside = c.post("/v1/ingest", json={"paths": [str(root / "outside")]})
        assert (outside.status_code, outside.json()["code"]) == (403, "PERMISSION_DENIED")
        dotdot = c.post("/v1/ingest", json={"paths": [str(root / "docs" / ".." / "outside")]})
        assert dotdot.status_code == 403
        for url in ("http://127.0.0.1:9/x.md", "http://localhost:9/x.md", "http://[::1]:9/x"):
            r = c.post("/v1/ingest", json={"urls": [url]})
            assert (r.status_code, r.json()["code"]) == (403, "PERMISSION_DENIED"), url
        ftp = c.post("/v1/ingest", json={"urls": ["ftp://example.org/x"]})
        assert ftp.status_code == 400
        empty = c.post("/v1/ingest", json={})
        assert (empty.status_code, empty.json()["code"]) == (400, "INVALID_INPUT")
    assert "secret" not in json.dumps(c_sources(server))


def c_sources(server: Server) -> list[dict[str, object]]:
    with server.client() as c:
        got: list[dict[str, object]] = c.get("/v1/sources").json()
        return got


def test_metrics_count_requests_and_ingest(served: tuple[Server, Path]) -> None:
    server, _ = served
    with server.client() as c:
        c.post("/v1/search", json={"query": "qdrant", "k": 1})
        text = c.get("/metrics").text
    assert 'funcpipe_http_requests_total{method="POST",route="/v1/search",status="200"}' in text
    assert "funcpipe_http_request_seconds_bucket" in text
    assert 'funcpipe_ingest_jobs_total{status="done"} 1.0' in text
    assert re.search(r"funcpipe_ingest_sources_total [1-9]", text)


def test_openapi_document(served: tuple[Server, Path]) -> None:
    server, _ = served
    with server.client() as c:
        doc = c.get("/openapi.json").json()
    for path in ("/v1/search", "/v1/ingest", "/v1/jobs/{job_id}", "/v1/sources", "/v1/stats"):
        assert path in doc["paths"]


def test_job_report_equals_the_cli_and_409_while_running(tmp_path: Path) -> None:
    docs = corpus(tmp_path, n=40)
    local = cli(tmp_path, "ingest", str(docs), "--data-dir", str(tmp_path / "cli"), "--json")
    assert local.returncode == 0, local.stderr
    server = start(tmp_path, tmp_path / "srv", "--allow-root", str(docs))
    try:
        with server.client() as c:
            first = c.post("/v1/ingest", json={"paths": [str(docs)]})
            assert first.status_code == 202
            job = first.json()["job"]
            second = c.post("/v1/ingest", json={"paths": [str(docs)]})
            running = c.get(f"/v1/jobs/{job}").json()["status"] in ("queued", "running")
            if running:  # the first job may already be done on a fast machine
                assert (second.status_code, second.json()["code"]) == (409, "INGEST_RUNNING")
            searched = c.post("/v1/search", json={"query": "note", "k": 1})
            assert searched.status_code in (200, 404)
            done = wait_job(c, job)
            assert done["status"] == "done"
            assert done["report"] == json.loads(local.stdout)
            if second.status_code == 202:
                wait_job(c, second.json()["job"])
            rerun = c.post("/v1/ingest", json={"paths": [str(docs)]}).json()["job"]
            again = wait_job(c, rerun)["report"]
            assert isinstance(again, dict)
            assert again["sources_unchanged"] == 40
            assert again["chunks_embedded"] == 0
    finally:
        assert server.stop() == 0


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_private_urls_fetched_only_when_allowed(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "page.md").write_text("# Page\n\nserved on loopback for the test\n", "utf-8")
    handler = lambda *a: _Files(*a, directory=str(site))  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/page.md"
    cors = ("--cors-origin", "http://ui.test")
    server = start(tmp_path, tmp_path / "store", "--allow-private-urls", *cors, key=None)
    try:
        with server.client(key=None) as c:
            pre = c.options(
                "/v1/search",
                headers={"origin": "http://ui.test", "access-control-request-method": "POST"},
            )
            assert pre.headers["access-control-allow-origin"] == "http://ui.test"
            other = c.get("/healthz", headers={"origin": "http://evil.test"})
            assert "access-control-allow-origin" not in other.headers
            job = c.post("/v1/ingest", json={"urls": [url]}).json()["job"]
            report = wait_job(c, job)["report"]
            assert isinstance(report, dict)
            assert (report["sources_added"], report["errors"]) == (1, [])
            assert c.post("/v1/search", json={"query": "loopback page"}).json()[0]["source"] == url
            paths = c.post("/v1/ingest", json={"paths": [str(site)]})
            assert paths.status_code == 403  # no --allow-root: no paths at all
    finally:
        httpd.shutdown()
        assert server.stop() == 0


def test_backend_down_is_503(tmp_path: Path) -> None:
    down = ("--qdrant-url", "http://127.0.0.1:1")  # a closed loopback port
    server = start(tmp_path, tmp_path / "store", *down, key=None)
    try:
        with server.client(key=None) as c:
            r = c.post("/v1/search", json={"query": "anything"})
            assert r.status_code == 503
            assert set(r.json()) == {"code", "msg", "class"}
            assert "Traceback" not in r.text
            assert c.get("/v1/stats").status_code == 503
    finally:
        assert server.stop(signal.SIGINT) == 0  # Ctrl-C drains like SIGTERM


def test_identity_mismatch_is_409(tmp_path: Path) -> None:
    docs = corpus(tmp_path, n=2)
    store = tmp_path / "store"
    assert cli(tmp_path, "ingest", str(docs), "--data-dir", str(store)).returncode == 0
    server = start(tmp_path, store, key=None, env={"FUNCPIPE_EMBED_DIM": "128"})
    try:
        with server.client(key=None) as c:
            r = c.post("/v1/search", json={"query": "topic"})
            assert r.status_code == 409, r.text
            assert r.json()["code"] == "INVALID_INPUT"
    finally:
        assert server.stop() == 0


def test_refuses_non_loopback_bind_without_key(tmp_path: Path) -> None:
    r = cli(tmp_path, "serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path))
    assert r.returncode == 2
    assert "without an API key" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_through_server_and_owner_message(tmp_path: Path) -> None:
    docs = corpus(tmp_path, n=3)
    server = start(tmp_path, tmp_path / "store", "--allow-root", str(docs), key=None)
    try:
        ing = cli(tmp_path, "ingest", str(docs), "--server", server.url, "--json")
        assert ing.returncode == 0, ing.stderr
        assert json.loads(ing.stdout)["sources_added"] == 3
        hits = cli(tmp_path, "search", "topic 1", "--server", server.url, "--json")
        assert json.loads(hits.stdout)[0]["source"] == "docs/doc1.md"
        env_ver = subprocess.run(
            [sys.executable, "-m", "funcpipe_rag.cli", "verify", "--json"],
            cwd=tmp_path,
            env={**clean_env(None), "FUNCPIPE_SERVER": server.url},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert json.loads(env_ver.stdout)["ok"] is True
        listed = cli(tmp_path, "sources", "--server", server.url, "--json")
        assert listed.returncode == 0, listed.stderr
        assert sorted(s["source"] for s in json.loads(listed.stdout)) == [
            "docs/doc0.md",
            "docs/doc1.md",
            "docs/doc2.md",
        ]
        st = cli(tmp_path, "stats", "--server", server.url, "--json")
        assert st.returncode == 0, st.stderr
        assert json.loads(st.stdout)["sources"] == 3
        local = cli(tmp_path, "search", "topic", "--data-dir", str(tmp_path / "store"))
        assert local.returncode == 3
        assert f"use --server {server.url}" in local.stderr
    finally:
        assert server.stop() == 0


def test_sigterm_during_a_job_then_rerun_converges(tmp_path: Path) -> None:
    seed = corpus(tmp_path / "seed", n=2)
    docs = corpus(tmp_path, n=300)
    slow = ("--ingest-cpu-share", "0.02")  # the job's embedding rests 49x its work: long
    server = start(tmp_path, tmp_path / "store", "--allow-root", str(tmp_path), *slow)
    with server.client() as c:
        first = c.post("/v1/ingest", json={"paths": [str(seed)]}).json()["job"]
        assert wait_job(c, first)["status"] == "done"
        job = c.post("/v1/ingest", json={"paths": [str(docs)]}).json()["job"]
        answered_while_running = 0
        for _ in range(400):  # searches are answered while the job runs
            hit = c.post("/v1/search", json={"query": "note", "k": 1})
            assert hit.status_code == 200
            doc = c.get(f"/v1/jobs/{job}").json()
            if doc["status"] != "running":
                break
            answered_while_running += 1
            if answered_while_running >= 5:
                break
        assert answered_while_running >= 5
        assert c.get(f"/v1/jobs/{job}").json()["status"] == "running"  # SIGTERM mid-job
    assert server.stop() == 0
    assert not (tmp_path / "store" / "serve.json").exists()
    again = cli(tmp_path, "ingest", str(docs), "--data-dir", str(tmp_path / "store"), "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["sources_seen"] == 300
    assert report["sources_unchanged"] < 300  # the stopped job had not finished
    ok = cli(tmp_path, "verify", "--data-dir", str(tmp_path / "store"), "--json")
    assert json.loads(ok.stdout) == {**json.loads(ok.stdout), "ok": True, "sources": 302}


def test_schemathesis_fuzz_finds_no_5xx(tmp_path: Path) -> None:
    """A short schema-based fuzz run of /openapi.json (every operation, coverage and fuzzing
    phases) against a populated server: no response is a 5xx."""
    docs = corpus(tmp_path, n=3)
    server = start(tmp_path, tmp_path / "store", "--allow-root", str(docs))
    try:
        with server.client() as c:
            job = c.post("/v1/ingest", json={"paths": [str(docs)]}).json()["job"]
            assert wait_job(c, job)["status"] == "done"
        st = Path(sys.executable).with_name("schemathesis")
        run = subprocess.run(
            [
                *(str(st), "run", f"{server.url}/openapi.json"),
                *("--checks", "not_a_server_error", "--max-examples", "10"),
                *("--header", f"Authorization: Bearer {KEY}"),
            ],
            cwd=tmp_path,
            env={**clean_env(None), "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        out = run.stdout + run.stderr
        assert run.returncode == 0, out
        tested = re.search(r"(\d+) generated, (\d+) passed", out)
        assert tested is not None, out
        assert int(tested.group(1)) >= 50  # the run really sent requests
        assert tested.group(1) == tested.group(2)
    finally:
        assert server.stop() == 0
