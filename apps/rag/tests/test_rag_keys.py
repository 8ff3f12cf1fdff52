"""Laws of source keys and URL normalisation (rag-app.md, "Identity").

Keys: the same file gets the same key from any working directory; two different files never
share one; a key under the key base is relative (no machine path) and gives the file's path
back (``unescape_name``), names that are not UTF-8 included. URLs: normalisation is
idempotent, removes dot segments, default ports, the fragment and the case of scheme and host.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from funcpipe_rag.adapters import source_key
from funcpipe_rag.domain import is_url, normalise_url, unescape_name
from funcpipe_rag.domain._identity import remove_dot_segments
from hypothesis import given
from hypothesis import strategies as st

# Names as the OS gives them (surrogateescape): odd characters, a backslash, bytes that are
# not UTF-8 (lone surrogates U+DC80..U+DCFF).
_CHARS = st.sampled_from([*"ab-_ .#%?[]~\\é☃", "\udce9", "\udcff"])
names = st.text(_CHARS, min_size=1, max_size=6).filter(lambda n: n not in (".", ".."))
rel_paths = st.lists(names, min_size=1, max_size=3).map(tuple)


@pytest.fixture(scope="module")
def tmp_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the module (keys are computed, no file is written in it)."""
    return tmp_path_factory.mktemp("keys")


def _key_from(cwd: Path, path: str, base: Path) -> str:
    here = os.getcwd()
    os.chdir(cwd)
    try:
        return source_key(path, base, home=Path("/nonexistent-home"))
    finally:
        os.chdir(here)


@given(rel=rel_paths)
def test_a_key_does_not_depend_on_the_working_directory(
    tmp_path: Path, rel: tuple[str, ...]
) -> None:
    base = tmp_path / "kb"
    (base / "sub").mkdir(parents=True, exist_ok=True)
    full = os.path.join(base, *rel)
    keys = {
        _key_from(tmp_path, full, base),  # absolute
        _key_from(base, os.path.join(*rel), base),  # relative to the base
        _key_from(base / "sub", os.path.join("..", *rel), base),  # from a subfolder
        _key_from(tmp_path, os.path.join("kb", *rel), base),  # from the base's parent
    }
    assert len(keys) == 1


@given(rel=rel_paths)
def test_a_key_under_the_base_is_relative_and_gives_the_path_back(
    tmp_path: Path, rel: tuple[str, ...]
) -> None:
    key = source_key(os.path.join(tmp_path, *rel), tmp_path, home=Path("/nonexistent-home"))
    assert not key.startswith(("/", "~"))
    assert str(tmp_path) not in key
    key.encode("utf-8")  # a key is valid UTF-8, whatever the name
    assert unescape_name(key) == "/".join(rel)


@given(a=rel_paths, b=rel_paths)
def test_two_different_files_never_share_a_key(
    tmp_path: Path, a: tuple[str, ...], b: tuple[str, ...]
) -> None:
    home = Path("/nonexistent-home")
    ka = source_key(os.path.join(tmp_path, *a), tmp_path, home=home)
    kb = source_key(os.path.join(tmp_path, *b), tmp_path, home=home)
    assert (ka == kb) == (a == b)


def test_a_backslash_in_a_name_is_not_a_folder_separator(tmp_path: Path) -> None:
    home = Path("/nonexistent-home")
    assert source_key(tmp_path / "x\\y.md", tmp_path, home=home) != source_key(
        tmp_path / "x" / "y.md", tmp_path, home=home
    )


hosts = st.sampled_from(["example.com", "Example.COM", "docs.python.org", "127.0.0.1"])
segments = st.lists(st.sampled_from(["a", "B", ".", "..", "c d", "x.rst", ""]), max_size=5)


@given(
    scheme=st.sampled_from(["http", "HTTP", "https", "HtTpS"]),
    host=hosts,
    port=st.sampled_from([None, 80, 443, 8080]),
    segs=segments,
    query=st.sampled_from(["", "?q=1", "?Q=A"]),
    frag=st.sampled_from(["", "#top"]),
)
def test_url_normalisation_laws(
    scheme: str, host: str, port: int | None, segs: list[str], query: str, frag: str
) -> None:
    url = f"{scheme}://{host}{'' if port is None else f':{port}'}/{'/'.join(segs)}{query}{frag}"
    assert is_url(url)
    n = normalise_url(url)
    assert normalise_url(n) == n  # idempotent
    low = scheme.lower()
    assert n.startswith(f"{low}://{host.lower()}")
    path = n.split("://", 1)[1].split("/", 1)[1].split("?", 1)[0]
    assert not {".", ".."} & set(path.split("/"))
    assert "#" not in n
    default = {"http": 80, "https": 443}[low]
    if port is None or port == default:
        assert f":{default}" not in n
    else:
        assert f":{port}" in n
    assert n.endswith(query) if query else "?" not in n


@given(st.lists(st.sampled_from(["a", ".", "..", "b", ""]), max_size=8))
def test_remove_dot_segments_is_idempotent_and_leaves_none(segs: list[str]) -> None:
    path = "/" + "/".join(segs)
    once = remove_dot_segments(path)
    assert remove_dot_segments(once) == once
    assert not {".", ".."} & set(once.split("/"))
    assert once.startswith("/")


@given(st.sampled_from(["ftp://x/y", "file:///etc/passwd", "docs/http://x", "C:\\x", "x.md"]))
def test_only_http_and_https_are_urls(s: str) -> None:
    assert not is_url(s)


def test_a_folder_named_tilde_under_the_base_is_not_the_home_folder(tmp_path: Path) -> None:
    base, home = tmp_path / "kb", tmp_path / "home"
    under_base = source_key(base / "~" / "x.md", base, home=home)
    under_home = source_key(home / "x.md", base, home=home)
    assert under_home == "~/x.md"
    assert under_base != under_home
    assert unescape_name(under_base) == "~/x.md"
