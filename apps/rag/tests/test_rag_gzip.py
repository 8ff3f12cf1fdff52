"""``.gz`` sources: read as the text inside, under the same size limit as a plain file (on the
decompressed text), and a corrupt or truncated archive is a coded DECODE_ERROR, never a
crash."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path

import pytest
from funcpipe.adapters.files import FileReader
from funcpipe.adapters.runtime import perform_async
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe_rag.adapters import FileRaw
from hypothesis import given
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gz")


def _read(path: Path, limit: int) -> Result[str, ErrInfo]:
    raw = FileRaw("k", path, FileReader())
    return asyncio.run(perform_async(raw.read(limit)))


@given(
    text=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300),
    limit=st.integers(1, 400),
)
def test_a_gz_file_reads_as_its_plain_text_would_under_the_same_limit(
    folder: Path, text: str, limit: int
) -> None:
    data = text.encode("utf-8")
    plain, packed = folder / "doc.md", folder / "doc.md.gz"
    plain.write_bytes(data)
    packed.write_bytes(gzip.compress(data))
    want, got = _read(plain, limit), _read(packed, limit)
    if isinstance(want, Ok):
        assert got == want
    else:
        assert isinstance(got, Err)
        assert got.error.code == want.error.code


def test_a_small_archive_of_a_huge_text_is_refused_by_the_decompressed_size(
    folder: Path,
) -> None:
    packed = folder / "bomb.md.gz"
    packed.write_bytes(gzip.compress(b"a" * 5_000_000))
    assert packed.stat().st_size < 20_000
    got = _read(packed, 1_000_000)
    assert isinstance(got, Err)
    assert got.error.code == codes.TOO_LARGE


@pytest.mark.parametrize(
    "body",
    [b"not gzip at all", gzip.compress(b"# Title\n\nsome text\n" * 50)[:40]],
    ids=["not-gzip", "truncated"],
)
def test_a_corrupt_or_truncated_archive_is_a_decode_error(folder: Path, body: bytes) -> None:
    bad = folder / "bad.md.gz"
    bad.write_bytes(body)
    got = _read(bad, 1_000_000)
    assert isinstance(got, Err)
    assert got.error.code == codes.DECODE_ERROR
    assert "\n" not in got.error.msg
