"""files: read real files in temporary directories (quality.md's bad-input list)."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from funcpipe.adapters.files import FileReader, read_lines, read_text
from funcpipe.adapters.runtime import collect_stream, perform_async
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.mark.skipif(IS_ROOT, reason="root ignores file permissions (chmod 000 is readable)")
@pytest.mark.asyncio
async def test_read_text_unreadable_file(tmp_path: Path) -> None:
    secret = tmp_path / "c.txt"
    secret.write_text("c")
    os.chmod(secret, 0)
    try:
        res = await perform_async(read_text(secret))
        assert isinstance(res, Err)
        assert res.error.code == codes.PERMISSION_DENIED
    finally:
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
