"""Packaging laws: the base import needs no extra; the static model never reaches the network;
pure helpers of the stores keep their laws."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid

from funcpipe.adapters.embedders import check_texts
from funcpipe.adapters.vectors import (
    Filter,
    MatchValue,
    Point,
    batch_points,
    normalise_id,
    validate_points,
)
from funcpipe.result import Err, Ok, codes
from hypothesis import given
from hypothesis import strategies as st

OPTIONAL = ["httpx", "aiofiles", "qdrant_client", "qdrant_edge", "wordllama", "numpy"]


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_base_import_needs_no_extra() -> None:
    loaded = _run(
        f"""
        import sys
        import funcpipe.adapters, funcpipe.adapters.runtime, funcpipe.adapters.vectors
        import funcpipe.adapters.embedders
        print(",".join(m for m in {OPTIONAL!r} if m in sys.modules))
        """
    )
    assert loaded == ""


def test_static_embedder_is_offline_and_leaves_logging_alone() -> None:
    out = _run(
        """
        import logging, socket
        attempts = []
        def refuse(*a, **k):
            attempts.append(a)
            raise OSError("network disabled in this test")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.getaddrinfo = refuse
        from funcpipe.adapters.embed import StaticEmbedder
        vecs = StaticEmbedder().embed_sync(["hello world", "offline please"])
        root = logging.getLogger()
        print(len(vecs), len(vecs[0]), len(attempts), root.level, len(root.handlers))
        """
    )
    assert out == "2 256 0 30 0"  # no attempt; root logger still WARNING with no handler


@given(st.uuids())
def test_normalise_id_canonical_and_idempotent(u: uuid.UUID) -> None:
    for form in (str(u), str(u).upper(), u.hex):
        first = normalise_id(form)
        assert first == Ok(str(u))
        assert normalise_id(first.unwrap()) == first


@given(st.text(max_size=40))
def test_normalise_id_rejects_non_uuids(s: str) -> None:
    try:
        uuid.UUID(s)
    except ValueError:
        res = normalise_id(s)
        assert isinstance(res, Err)
        assert res.error.code == codes.INVALID_INPUT


@given(
    payload_sizes=st.lists(st.integers(0, 300), max_size=60),
    max_points=st.integers(1, 10),
    max_bytes=st.integers(200, 3000),
)
def test_batch_points_order_completeness_bounds(
    payload_sizes: list[int], max_points: int, max_bytes: int
) -> None:
    pts = [
        Point(str(uuid.UUID(int=i)), [1.0, 2.0], {"t": "x" * n})
        for i, n in enumerate(payload_sizes)
    ]
    checked = validate_points(pts, 2).unwrap()
    res = batch_points(checked, max_points=max_points, max_bytes=max_bytes)
    if any(c.size > max_bytes for c in checked):
        assert isinstance(res, Err)
        assert res.error.code == codes.TOO_LARGE
        return
    batches = res.unwrap()
    assert [c.id for b in batches for c in b] == [c.id for c in checked]  # order, completeness
    assert all(b for b in batches)  # never empty
    assert all(len(b) <= max_points and sum(c.size for c in b) <= max_bytes for b in batches)


scalars = st.one_of(st.text(max_size=3), st.integers(-3, 3), st.booleans())
match_values: st.SearchStrategy[MatchValue] = st.one_of(
    scalars, st.lists(st.integers(-3, 3), min_size=1, max_size=3)
)
keys = st.sampled_from("abc")


@given(
    payload=st.dictionaries(keys, st.one_of(scalars, st.lists(scalars, max_size=3))),
    must=st.dictionaries(keys, match_values),
)
def test_filter_is_and_of_conditions(
    payload: dict[str, object], must: dict[str, MatchValue]
) -> None:
    singles = [Filter(must={k: v}).matches(payload) for k, v in must.items()]
    assert Filter(must=must).matches(payload) == all(singles)
    assert Filter(must_not=must).matches(payload) == (not any(singles))


def test_filter_rejects_unmatchable_values() -> None:
    for bad in (1.5, [], [1, "a"], None, {"x": 1}):
        try:
            Filter(must={"f": bad})  # type: ignore[dict-item]
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad!r}")


@given(st.lists(st.one_of(st.text(max_size=5), st.integers()), max_size=6))
def test_check_texts(texts: list[object]) -> None:
    res = check_texts(texts)
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if not bad:
        assert res == Ok(texts)
    else:
        assert isinstance(res, Err)
        assert res.error.ctx["index"] == bad[0]
