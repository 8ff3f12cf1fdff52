"""serve's filesystem boundary in process (issue 28): a file swapped for a link after the check
(a barrier, no sleeps), a swap between the walk and the read, and a property over drawn trees
of folders, files and links: no source outside the root is ever read."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path

from funcpipe.result import Err, Ok
from funcpipe_rag.adapters import Confine, EmbedderPort, FileRaw, RootsSource
from funcpipe_rag.app import Settings
from funcpipe_rag.app.service import Guard, JobRequest, ServiceOptions, open_service
from funcpipe_rag.app.service._jobs import JobBoard
from hypothesis import given, settings
from hypothesis import strategies as st
from rag_doubles import HashEmbedder

SECRET = "zebracorn secret outside the root"


def outside_tree(base: Path) -> Path:
    out = base / "outside"
    (out / "dir").mkdir(parents=True, exist_ok=True)
    (out / "secret.md").write_text(f"# Secret\n\n{SECRET}\n", "utf-8")
    (out / "dir" / "other.md").write_text(f"# Other\n\n{SECRET} too\n", "utf-8")
    return out


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
