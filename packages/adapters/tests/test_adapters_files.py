"""files: walk and read real files in temporary directories (quality.md's bad-input list)."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import funcpipe.adapters.files._walk as walk_mod
import pytest
from funcpipe.adapters.files import FileReader, FileRef, read_lines, read_text, walk_files
from funcpipe.adapters.runtime import collect_stream, perform_async
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _oks(items: list[Result[FileRef, ErrInfo]]) -> list[str]:
    return [r.value.key for r in items if isinstance(r, Ok)]


def _errs(items: list[Result[FileRef, ErrInfo]]) -> list[ErrInfo]:
    return [r.error for r in items if isinstance(r, Err)]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "deep").mkdir()
    (tmp_path / "a.md").write_text("# a")
    (tmp_path / "b" / "z.txt").write_text("z")
    (tmp_path / "b" / "deep" / "x.TXT").write_text("x")
    (tmp_path / "b" / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "c.txt").write_text("c")
    return tmp_path


@pytest.mark.asyncio
async def test_walk_is_recursive_filtered_sorted_with_forward_slash_keys(tree: Path) -> None:
    items = await collect_stream(walk_files(tree, extensions={".md", "txt"}))
    assert _oks(items) == ["a.md", "c.txt", "b/z.txt", "b/deep/x.TXT"]
    assert not _errs(items)
    first = items[0].unwrap()
    assert first.path == tree / "a.md"
    assert first.size == 3
    everything = await collect_stream(walk_files(tree))
    assert "b/image.png" in _oks(everything)


@pytest.mark.asyncio
async def test_walk_prunes_hidden_entries_by_default(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git = tree / ".git" / "objects"
    git.mkdir(parents=True)
    (git / "pack.txt").write_text("x")
    (tree / ".env.txt").write_text("secret")
    (tree / "b" / ".cache").mkdir()
    (tree / "b" / ".cache" / "c.md").write_text("c")
    os.symlink(tree / "nowhere", tree / "b" / ".broken.md")  # would be an Err if visited
    (tree / "b" / "not.hidden.md").write_text("a dot inside the name is not hidden")
    listed: list[str] = []
    real = walk_mod._list_dir

    def spy(path: str, skip_hidden: bool) -> list[walk_mod._Entry]:
        listed.append(os.path.relpath(path, tree))
        return real(path, skip_hidden)

    monkeypatch.setattr(walk_mod, "_list_dir", spy)
    items = await collect_stream(walk_files(tree, extensions={".md", ".txt"}))
    assert _oks(items) == ["a.md", "c.txt", "b/not.hidden.md", "b/z.txt", "b/deep/x.TXT"]
    assert not _errs(items)
    assert listed == [".", "b", "b/deep"]  # never descended into .git or b/.cache
    listed.clear()
    everything = await collect_stream(walk_files(tree, skip_hidden=False))
    keys = _oks(everything)
    assert {".env.txt", ".git/objects/pack.txt", "b/.cache/c.md"} <= set(keys)
    assert [e.path for e in _errs(everything)] == [("b/.broken.md",)]
    assert ".git/objects" in listed
    # a hidden root is walked (only entries below the root are pruned)
    inside = await collect_stream(walk_files(tree / ".git"))
    assert _oks(inside) == ["objects/pack.txt"]


@pytest.mark.asyncio
async def test_walk_is_replayable_and_deterministic(tree: Path) -> None:
    gen = walk_files(tree)
    assert await collect_stream(gen) == await collect_stream(gen)


@pytest.mark.asyncio
async def test_walk_survives_symlink_loops_and_broken_links(tree: Path) -> None:
    os.symlink(tree, tree / "b" / "loop")  # points back at the root
    os.symlink("self", tree / "self")  # a link to itself: ELOOP
    os.symlink(tree / "missing", tree / "broken.txt")
    items = await collect_stream(walk_files(tree, extensions={".md", ".txt"}))
    # every real file exactly once; the loop is reported, not followed
    assert sorted(_oks(items)) == ["a.md", "b/deep/x.TXT", "b/z.txt", "c.txt"]
    by_key = {e.path[0]: e for e in _errs(items)}
    assert by_key["b/loop"].code == codes.INVALID_INPUT
    assert by_key["self"].code == codes.INVALID_INPUT
    assert by_key["broken.txt"].code == codes.NOT_FOUND
    # not following symlinks: links are skipped silently
    no_links = await collect_stream(walk_files(tree, follow_symlinks=False))
    assert not _errs(no_links)


@pytest.mark.asyncio
async def test_walk_root_cases(tree: Path) -> None:
    missing = await collect_stream(walk_files(tree / "nope"))
    assert [e.code for e in _errs(missing)] == [codes.NOT_FOUND]
    single = await collect_stream(walk_files(tree / "c.txt", extensions={".txt"}))
    assert _oks(single) == ["c.txt"]
    unknown = await collect_stream(walk_files(tree / "b" / "image.png", extensions={".txt"}))
    assert [e.code for e in _errs(unknown)] == [codes.UNSUPPORTED]


@pytest.mark.skipif(IS_ROOT, reason="root ignores file permissions (chmod 000 is readable)")
@pytest.mark.asyncio
async def test_walk_and_read_unreadable_entries(tree: Path) -> None:
    locked = tree / "b" / "deep"
    os.chmod(locked, 0)
    secret = tree / "c.txt"
    os.chmod(secret, 0)
    try:
        items = await collect_stream(walk_files(tree))
        assert [e.code for e in _errs(items)] == [codes.PERMISSION_DENIED]
        assert "b/z.txt" in _oks(items)  # the rest of the walk went on
        res = await perform_async(read_text(secret))
        assert isinstance(res, Err)
        assert res.error.code == codes.PERMISSION_DENIED
    finally:
        os.chmod(locked, 0o755)
        os.chmod(secret, 0o644)


def _code(res: Result[str, ErrInfo]) -> str:
    assert isinstance(res, Err), res
    return res.error.code


@pytest.mark.asyncio
async def test_read_text_bad_inputs(tmp_path: Path) -> None:
    cases = {
        "empty.txt": (b"", codes.EMPTY_INPUT),
        "blank.txt": (b"  \n\t\n", codes.EMPTY_INPUT),
        "binary.bin": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", codes.DECODE_ERROR),
        "latin1.txt": ("café".encode("latin-1"), codes.DECODE_ERROR),
        "huge.txt": (b"x" * 5000, codes.TOO_LARGE),
    }
    for name, (data, code) in cases.items():
        (tmp_path / name).write_bytes(data)
        res = await perform_async(read_text(tmp_path / name, max_bytes=4096))
        assert _code(res) == code, name
        assert isinstance(res, Err)
        assert res.error.ctx["path"] == str(tmp_path / name)
    assert _code(await perform_async(read_text(tmp_path / "none.txt"))) == codes.NOT_FOUND
    assert _code(await perform_async(read_text(tmp_path))) == codes.INVALID_INPUT
    os.symlink("loop", tmp_path / "loop")
    assert _code(await perform_async(read_text(tmp_path / "loop"))) == codes.INVALID_INPUT


@pytest.mark.asyncio
async def test_read_text_ok_and_bom(tmp_path: Path) -> None:
    p = tmp_path / "ok.md"
    p.write_bytes("\ufeffhéllo 日本\n".encode())
    assert await perform_async(read_text(p)) == Ok("héllo 日本\n")
    p.write_bytes(b"x" * 10)
    assert await perform_async(read_text(p, max_bytes=10)) == Ok("x" * 10)  # limit is inclusive


@pytest.mark.asyncio
async def test_read_text_sizes_pipes_and_memory(tmp_path: Path) -> None:
    import contextlib
    import threading
    import tracemalloc

    big = tmp_path / "big.txt"
    big.write_bytes(b"ab" * 100_000)  # several read chunks
    assert await perform_async(read_text(big, max_bytes=200_000)) == Ok("ab" * 100_000)
    assert _code(await perform_async(read_text(big, max_bytes=199_999))) == codes.TOO_LARGE
    # a pipe has no size: read in chunks up to the limit
    fifo = tmp_path / "fifo.txt"
    os.mkfifo(fifo)
    for limit, want in ((300_000, Ok("z" * 150_000)), (100_000, None)):

        def feed() -> None:
            # BrokenPipeError: the reader stopped at its limit
            with contextlib.suppress(BrokenPipeError), open(fifo, "wb", buffering=0) as w:
                w.write(b"z" * 150_000)

        writer = threading.Thread(target=feed)
        writer.start()
        res = await perform_async(read_text(fifo, max_bytes=limit))
        writer.join()
        if want is None:
            assert _code(res) == codes.TOO_LARGE
        else:
            assert res == want
    # a small file costs its size, not the limit (no max_bytes buffer allocated up front)
    small = tmp_path / "small.txt"
    small.write_text("hello")
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        assert await perform_async(read_text(small, max_bytes=64 * 1024 * 1024)) == Ok("hello")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024


class _CountingPool(ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.hops = 0

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.hops += 1
        return super().submit(fn, *args, **kwargs)


@pytest.mark.asyncio
async def test_file_reader_coalesces_concurrent_reads_and_matches_read_text(
    tmp_path: Path,
) -> None:
    files = {
        "a.md": b"alpha",
        "empty.txt": b"",
        "bin.txt": b"x\x00y",
        "latin.txt": "caf\u00e9".encode("latin-1"),
        "big.txt": b"y" * 5000,
        "ok.txt": "\ufeffhello".encode(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    paths = [tmp_path / n for n in [*files, "missing.txt"]] + [tmp_path]
    pool = _CountingPool()
    try:
        reader = FileReader(max_batch=3, executor=pool)
        got = await asyncio.gather(
            *(perform_async(reader.read_text(p, max_bytes=4096)) for p in paths)
        )
        want = [await perform_async(read_text(p, max_bytes=4096)) for p in paths]
        assert got == want  # same values, same error codes and messages
        assert [r for r in got if isinstance(r, Ok)] == [Ok("alpha"), Ok("hello")]
        assert pool.hops == 3  # 8 reads started together, batches of at most 3
        # a lone read is a batch of one; a cancelled caller does not disturb the others
        assert await perform_async(reader.read_text(tmp_path / "a.md")) == Ok("alpha")
        assert pool.hops == 4
        doomed = asyncio.ensure_future(perform_async(reader.read_text(tmp_path / "a.md")))
        kept = asyncio.ensure_future(perform_async(reader.read_text(tmp_path / "ok.txt")))
        await asyncio.sleep(0)
        doomed.cancel()
        assert await kept == Ok("hello")
        assert doomed.cancelled()
    finally:
        pool.shutdown()
    with pytest.raises(ValueError, match="max_batch"):
        FileReader(max_batch=0)
    # the hop itself failing (executor shut down) gives an Err, not an exception
    res = await perform_async(FileReader(executor=pool).read_text(tmp_path / "a.md"))
    assert _code(res) == codes.UNEXPECTED


@pytest.mark.asyncio
async def test_read_lines_errors_flow_on(tmp_path: Path) -> None:
    p = tmp_path / "data.jsonl"
    p.write_bytes(b'{"a": 1}\r\n' + b"y" * 300_000 + b"\nbad \xff line\nlast")
    items = await collect_stream(read_lines(p, max_line_bytes=1000))
    assert items[0] == Ok('{"a": 1}')
    assert isinstance(items[1], Err)
    assert items[1].error.code == codes.TOO_LARGE
    assert items[1].error.ctx["line"] == 2
    assert isinstance(items[2], Err)
    assert items[2].error.code == codes.DECODE_ERROR
    assert items[2].error.ctx["line"] == 3
    assert items[3] == Ok("last")
    assert len(items) == 4
    missing = await collect_stream(read_lines(tmp_path / "nope"))
    assert len(missing) == 1
    assert isinstance(missing[0], Err)
    assert missing[0].error.code == codes.NOT_FOUND


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(
        st.text(
            alphabet=st.characters(exclude_characters="\n\r\x00\ufeff", exclude_categories=["Cs"]),
            max_size=40,
        )
    ),
    limit=st.integers(1, 60),
)
def test_read_lines_property(tmp_path: Path, lines: list[str], limit: int) -> None:
    """Lines round-trip in order; exactly the lines over the limit (in bytes) become TOO_LARGE."""
    import asyncio

    p = tmp_path / "prop.txt"
    p.write_text("\n".join(lines), encoding="utf-8")
    items = asyncio.run(collect_stream(read_lines(p, max_line_bytes=limit)))
    # a trailing empty remainder after the last newline is not a line
    expected_lines = lines[:-1] if lines and lines[-1] == "" else lines
    assert len(items) == len(expected_lines)
    for line, item in zip(expected_lines, items, strict=True):
        if len(line.encode()) > limit:
            assert isinstance(item, Err)
            assert item.error.code == codes.TOO_LARGE
        else:
            assert item == Ok(line)


@pytest.mark.asyncio
async def test_walk_goes_on_past_unlistable_directory(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs as root too: listing one directory fails with EACCES (as chmod 000 would for a
    normal user); the walk reports it and goes on."""
    import errno

    real = walk_mod._list_dir

    def deny(path: str, skip_hidden: bool) -> list[walk_mod._Entry]:
        if path.endswith("deep"):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real(path, skip_hidden)

    monkeypatch.setattr(walk_mod, "_list_dir", deny)
    items = await collect_stream(walk_files(tree, extensions={".md", ".txt"}))
    errs = _errs(items)
    assert [(e.code, e.path) for e in errs] == [(codes.PERMISSION_DENIED, ("b/deep",))]
    assert _oks(items) == ["a.md", "c.txt", "b/z.txt"]
