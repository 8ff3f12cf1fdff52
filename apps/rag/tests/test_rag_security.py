"""serve's boundaries, tried as an attacker would (issue 28): symlinks out of the allowed roots,
a file swapped after the check, DNS rebinding, glob deletes, unbounded requests, Host headers.

Real files and links in tmp dirs, a real ``serve`` on 127.0.0.1 and a stub resolver: nothing
here sends a packet beyond loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from funcpipe.result import Err, Ok
from funcpipe_rag.adapters import OUTSIDE_ROOT, Confine, EmbedderPort, FileRaw, RootsSource
from funcpipe_rag.app import (
    Guard,
    JobRequest,
    ServiceOptions,
    Settings,
    open_service,
    run_delete,
    run_ingest,
    run_sources,
)
from funcpipe_rag.app._jobs import JobBoard
from funcpipe_rag.pipelines import DEFAULT_SPEC, match_sources
from hypothesis import given, settings
from hypothesis import strategies as st
from rag_doubles import HashEmbedder, Served, serve

SECRET = "zebracorn secret outside the root"
DEL_FILES = ("x[1].md", "x1.md", "g1.md", "g2.md", "keep.md", "*.md")


def outside_tree(base: Path) -> Path:
    out = base / "outside"
    (out / "dir").mkdir(parents=True, exist_ok=True)
    (out / "secret.md").write_text(f"# Secret\n\n{SECRET}\n", "utf-8")
    (out / "dir" / "other.md").write_text(f"# Other\n\n{SECRET} too\n", "utf-8")
    return out


def wait_job(c: httpx.Client, job: str) -> dict[str, object]:
    for _ in range(1200):
        doc: dict[str, object] = c.get(f"/v1/jobs/{job}").json()
        if doc["status"] not in ("queued", "running"):
            return doc
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def report_of(c: httpx.Client, body: dict[str, object]) -> dict[str, object]:
    r = c.post("/v1/ingest", json=body)
    assert r.status_code == 202, r.text
    doc = wait_job(c, r.json()["job"])
    assert doc["status"] == "done", doc
    report = doc["report"]
    assert isinstance(report, dict)
    return report


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Path]]:
    """A key-less loopback server allowed to read ``docs`` only, holding links in and out."""
    base = tmp_path_factory.mktemp("sec")
    out = outside_tree(base)
    docs = base / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.md").write_text("# A\n\nplain inside note\n", "utf-8")
    (docs / "sub" / "real.md").write_text("# Real\n\ninside file reached by a link\n", "utf-8")
    (docs / "inner.md").symlink_to(docs / "sub" / "real.md")
    (docs / "leak.md").symlink_to(out / "secret.md")
    (docs / "linkdir").symlink_to(out / "dir")
    if Path("/proc/self/status").exists():
        (docs / "proc.md").symlink_to("/proc/self/status")
    dels = base / "del"
    dels.mkdir()
    for name in DEL_FILES:
        (dels / name).write_text(f"# {name}\n\nnote on {name}\n", "utf-8")
    roots = ("--allow-root", str(docs), "--allow-root", str(dels))
    server = serve(base, base / "store", *roots)
    yield server, base
    assert server.stop() == 0


# -- 1. the filesystem boundary ----------------------------------------------------------------


def test_links_out_of_the_root_are_skipped_counted_and_never_read(
    site: tuple[Served, Path],
) -> None:
    server, base = site
    with server.client() as c:
        report = report_of(c, {"paths": [str(base / "docs")]})
        listed = c.get("/v1/sources").json()
        keys = sorted(s["source"] for s in listed if s["source"].startswith("docs/"))
        hits = c.post("/v1/search", json={"query": "zebracorn secret", "k": 20}).json()
    assert keys == ["docs/a.md", "docs/inner.md", "docs/sub/real.md"]  # inside links work
    outside_links = 3 if (base / "docs" / "proc.md").is_symlink() else 2
    skipped = report["sources_skipped"]
    assert isinstance(skipped, dict)
    assert skipped[OUTSIDE_ROOT] == outside_links
    assert report["errors"] == []
    assert SECRET not in json.dumps(hits)


def test_an_explicit_link_out_of_the_root_is_refused_at_the_request(
    site: tuple[Served, Path],
) -> None:
    server, base = site
    with server.client() as c:  # the request's name lies inside; what it leads to does not
        r = c.post("/v1/ingest", json={"paths": [str(base / "docs" / "leak.md")]})
    assert (r.status_code, r.json()["code"]) == (403, "PERMISSION_DENIED")


def _service_options(root: Path, base: Path) -> ServiceOptions:
    return ServiceOptions(guard=Guard(roots=(root,)), base=base)


def test_a_file_swapped_for_a_link_after_the_202_is_not_read(tmp_path: Path) -> None:
    """The barrier: the job runs on this test's loop, so it cannot start before the test
    awaits; the swap happens after the request was checked and accepted, before any read."""
    out = outside_tree(tmp_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    target = docs / "a.md"
    target.write_text("# A\n\nchecked and harmless\n", "utf-8")
    (docs / "b.md").write_text("# B\n\nstays as it was\n", "utf-8")

    async def scenario() -> tuple[dict[str, object], list[str]]:
        settings_ = Settings(data_dir=tmp_path / "store")
        opened_cm = open_service(
            settings_, _service_options(docs, tmp_path), embedder=EmbedderPort(HashEmbedder(16))
        )
        async with opened_cm as opened:
            assert isinstance(opened, Ok)
            svc = opened.value
            svc.jobs = JobBoard(svc._run_job, threaded=False)
            started = await svc.start_ingest(JobRequest(paths=(str(target), str(docs / "b.md"))))
            assert isinstance(started, Ok)  # the 202: the path was checked and is allowed
            target.unlink()
            target.symlink_to(out / "secret.md")
            job = started.value
            assert await asyncio.to_thread(job.done.wait, 120)
            listed = await svc.sources()
            assert isinstance(listed, Ok)
            return job.to_json(), [s.source for s in listed.value]

    doc, keys = asyncio.run(scenario())
    assert doc["status"] == "done", doc
    assert keys == ["docs/b.md"]
    assert SECRET not in json.dumps(doc)


def test_a_swap_between_the_walk_and_the_read_is_refused(tmp_path: Path) -> None:
    out = outside_tree(tmp_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nwalked while inside\n", "utf-8")
    source = RootsSource([str(docs)], base=tmp_path, confine=Confine.of([docs]))

    async def scenario() -> list[object]:
        got: list[object] = []
        async for item in source.sources()():
            assert isinstance(item, Ok)
            raw = item.value
            assert isinstance(raw, FileRaw)
            (docs / "a.md").unlink()  # the barrier: between the walk's yield and the read
            (docs / "a.md").symlink_to(out / "secret.md")
            got.append(await raw.read(1 << 20)())
        return got

    (read,) = asyncio.run(scenario())
    assert isinstance(read, Err)
    assert read.error.code == "PERMISSION_DENIED"
    assert str(tmp_path) not in read.error.msg  # named relative to its root
    assert read.error.msg.startswith("docs/a.md")


# A drawn tree: folders, files and links (to inside names, to outside files and folders, to
# the root, to a parent, dangling) under a root; every inside file holds a unique mark.
_NAMES = st.sampled_from(["a", "b", "c"])
_PATHS = st.lists(_NAMES, min_size=1, max_size=3).map(tuple)
_TARGETS = st.one_of(
    st.sampled_from(["@secret", "@dir", "@proc", "@root", "@parent", "@missing", "@self"]),
    _PATHS,
)
Op = tuple[str, tuple[str, ...], str | tuple[str, ...] | None]
_OPS: st.SearchStrategy[list[Op]] = st.lists(
    st.one_of(
        st.tuples(st.just("dir"), _PATHS, st.none()),
        st.tuples(st.just("file"), _PATHS, st.none()),
        st.tuples(st.just("link"), _PATHS, _TARGETS),
    ),
    max_size=14,
)


def _build(root: Path, out: Path, ops: list[Op]) -> set[str]:
    """Make the tree; the marks of the files reachable without a link."""
    marks: set[str] = set()
    for n, (kind, parts, target) in enumerate(ops):
        path = root.joinpath(*parts)
        if kind == "file":
            path = path.with_name(path.name + ".md")
        if not path.parent.is_dir() or path.is_symlink() or path.exists():
            continue
        if kind == "dir":
            path.mkdir()
        elif kind == "file":
            mark = f"insidemark{n}"
            path.write_text(f"# F\n\n{mark}\n", "utf-8")
            if not any(p.is_symlink() for p in [path, *path.parents]):
                marks.add(mark)
        else:
            fixed = {
                "@secret": out / "secret.md",
                "@dir": out / "dir",
                "@proc": Path("/proc/self/status"),
                "@root": root,
                "@parent": path.parent.parent,
                "@missing": out / "missing.md",
                "@self": path,
            }
            dest = fixed[target] if isinstance(target, str) else root.joinpath(*(target or ()))
            os.symlink(os.path.relpath(dest, path.parent), path)
    return marks


@settings(max_examples=40, deadline=None)
@given(_OPS)
def test_no_drawn_tree_yields_a_source_outside_the_root(
    ops: list[Op],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        out = outside_tree(base)
        root = base / "root"
        root.mkdir()
        marks = _build(root, out, ops)
        source = RootsSource([str(root)], base=base, confine=Confine.of([root]))

        async def texts() -> list[str]:
            got: list[str] = []
            async for item in source.sources()():
                if isinstance(item, Ok):
                    assert isinstance(item.value, FileRaw)
                    real = await asyncio.to_thread(os.path.realpath, item.value.path)
                    assert real.startswith(str(root.resolve()) + os.sep)
                    read = await item.value.read(1 << 20)()
                    if isinstance(read, Ok):
                        got.append(read.value)
            return got

        read = asyncio.run(texts())
        assert not any("zebracorn" in t or "VmRSS" in t for t in read)
        assert marks <= {m for t in read for m in marks if m in t}  # inside files all read


# -- 2. exact deletes --------------------------------------------------------------------------


def _keys(c: httpx.Client) -> set[str]:
    return {s["source"] for s in c.get("/v1/sources").json() if s["source"].startswith("del/")}


def test_delete_removes_exactly_its_key_and_retries_are_harmless(
    site: tuple[Served, Path],
) -> None:
    server, base = site
    with server.client() as c:
        report_of(c, {"paths": [str(base / "del")]})
        every = {f"del/{n}" for n in DEL_FILES}
        assert _keys(c) == every
        for path in ("/v1/sources/%2A", "/v1/sources/del/%2A%2A", "/v1/sources/del/x%3F.md"):
            r = c.delete(path)  # glob characters are plain characters here
            assert (r.status_code, r.json()["code"]) == (404, "NOT_FOUND"), path
        assert _keys(c) == every
        first = c.delete("/v1/sources/del/x%5B1%5D.md")
        assert (first.status_code, first.json()["deleted"]) == (200, ["del/x[1].md"])
        for _ in range(3):  # a client's retries
            again = c.delete("/v1/sources/del/x%5B1%5D.md")
            assert (again.status_code, again.json()["code"]) == (404, "NOT_FOUND")
        star = c.delete("/v1/sources/del/%2A.md")  # the file really named *.md
        assert star.json()["deleted"] == ["del/*.md"]
        assert _keys(c) == every - {"del/x[1].md", "del/*.md"}

        dry = c.post("/v1/sources:delete", json={"glob": "del/g*.md", "dry_run": True})
        assert dry.status_code == 200, dry.text
        assert (dry.json()["matched"], dry.json()["dry_run"]) == (2, True)
        assert _keys(c) == every - {"del/x[1].md", "del/*.md"}
        done = c.post("/v1/sources:delete", json={"glob": "del/g*.md"})
        assert sorted(done.json()["deleted"]) == ["del/g1.md", "del/g2.md"]
        retry = c.post("/v1/sources:delete", json={"glob": "del/g*.md"})
        assert (retry.status_code, retry.json()["matched"]) == (200, 0)
        assert _keys(c) == {"del/x1.md", "del/keep.md"}
        bad = c.post("/v1/sources:delete", json={"glob": "x" * 5000})
        assert (bad.status_code, bad.json()["code"]) == (400, "INVALID_INPUT")


@given(st.sets(st.sampled_from(["a", "a*", "[a]", "b?", "ab", "*"]), max_size=6), st.data())
def test_an_exact_delete_matches_only_its_own_key(keys: set[str], data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(["a", "a*", "[a]", "b?", "ab", "*", "zz"]))
    left = set(keys)
    for attempt in range(3):  # the first delete and two retries
        hit, missed = match_sources(left, [key], exact=True)
        assert hit == ([key] if attempt == 0 and key in keys else [])
        assert missed == ([] if hit else [key])
        left -= set(hit)
    assert left == keys - {key}


def test_cli_delete_exact_and_dry_run(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("x[1].md", "x1.md", "g1.md"):
        (docs / name).write_text(f"# {name}\n\nabout {name}\n", "utf-8")
    s = Settings(data_dir=tmp_path / "store")
    emb = EmbedderPort(HashEmbedder(8))
    run = asyncio.run(run_ingest(s, DEFAULT_SPEC, [str(docs)], base=tmp_path, embedder=emb))
    assert isinstance(run, Ok)
    dry = asyncio.run(run_delete(s, "funcpipe", ["docs/*"], dry_run=True))
    assert isinstance(dry, Ok)
    assert len(dry.value.deleted) == 3
    for attempt in range(2):
        got = asyncio.run(run_delete(s, "funcpipe", ["docs/x[1].md"], exact=True))
        assert isinstance(got, Ok)
        assert got.value.deleted == (("docs/x[1].md",) if attempt == 0 else ())
    listed = asyncio.run(run_sources(s, "funcpipe"))
    assert isinstance(listed, Ok)
    assert [e.source for e in listed.value] == ["docs/g1.md", "docs/x1.md"]
