"""Laws of the pure domain: identity, cleaning, parsing, chunk offsets, sync planning, verify."""

from __future__ import annotations

import uuid

from funcpipe.result import Err, Ok, codes
from funcpipe_rag.domain import (
    ChunkingConfig,
    EmbedderId,
    SourceState,
    StoredRecord,
    SyncContext,
    apply_plan,
    chunk_document,
    clean_text,
    desired_records,
    is_current,
    kind_of,
    make_document,
    normalise_url,
    parse_source,
    path_key,
    plan_document,
    plan_source,
    plan_steps,
    point_id,
    prune_candidates,
    state_of,
    verify_records,
)
from funcpipe_rag.domain._chunk import blocks
from hypothesis import assume, given
from hypothesis import strategies as st

EMB = EmbedderId("test-model", 8)
CTX = SyncContext(EMB, "spec-1", ChunkingConfig(40, 8))

words = st.sampled_from(["alpha", "beta", "gamma", "delta", "é", "日本", "\n\n", "  ", "\t"])
texts = st.lists(words, min_size=1, max_size=60).map(" ".join)


# -- identity ---------------------------------------------------------------------------------


@given(st.text(min_size=1), st.text(min_size=1), st.integers(0, 5))
def test_point_id_is_a_stable_uuid(source: str, h: str, occ: int) -> None:
    a = point_id(source, h, EMB, occ)
    assert a == point_id(source, h, EMB, occ)
    assert uuid.UUID(a).version == 5
    assert a != point_id(source, h, EMB, occ + 1)
    assert a != point_id(source, h, EmbedderId("test-model", 9), occ)
    assert a != point_id(source + "x", h, EMB, occ)


def test_point_id_is_the_same_on_any_machine() -> None:
    # A fixed expectation: changing the derivation would orphan every stored point.
    assert point_id("docs/a.md", "00", EMB) == "ba088b6c-1e5a-56cf-bd4c-7578b5a7690d"
    assert point_id("docs/a.md", "00", EMB) == point_id("docs/a.md", "00", EMB, 0)


@given(
    st.sampled_from(
        ["HTTP://Example.COM:80/a#frag", "http://example.com/a", "http://example.com:80/a"]
    )
)
def test_url_keys_ignore_case_default_port_and_fragment(url: str) -> None:
    assert normalise_url(url) == "http://example.com/a"
    assert normalise_url(normalise_url(url)) == normalise_url(url)


@given(st.lists(st.sampled_from(["a", "b", ".", "c.md"]), min_size=1, max_size=5))
def test_path_keys_are_normal_and_slash_separated(parts: list[str]) -> None:
    key = path_key("/".join(parts))
    assert path_key(key) == key
    assert "//" not in key
    assert path_key("\\".join(parts)).count("\\") >= len(parts) - 1  # a name's character


# -- cleaning and parsing ---------------------------------------------------------------------


@given(st.text())
def test_clean_text_is_idempotent(text: str) -> None:
    once = clean_text(text)
    assert clean_text(once) == once
    assert "\r" not in once


def test_version_ignores_crlf_and_bom_but_not_content() -> None:
    a = parse_source("a.md", b"hello\nworld\n", max_bytes=100)[0]
    b = parse_source("a.md", b"\xef\xbb\xbfhello\r\nworld\r\n", max_bytes=100)[0]
    c = parse_source("a.md", b"hello\nworld!\n", max_bytes=100)[0]
    assert isinstance(a, Ok)
    assert isinstance(b, Ok)
    assert isinstance(c, Ok)
    assert a.value.version == b.value.version != c.value.version


def test_bad_inputs_get_their_codes() -> None:
    def code(key: str, data: bytes, limit: int = 1000) -> str:
        [r] = parse_source(key, data, max_bytes=limit)
        assert isinstance(r, Err)
        assert r.error.path == (key,)
        return r.error.code

    assert code("e.md", b"") == codes.EMPTY_INPUT
    assert code("e.md", b" \n\t\n") == codes.EMPTY_INPUT
    assert code("b.txt", b"\x89PNG\x00\x00") == codes.UNSUPPORTED
    assert code("u.txt", b"caf\xe9") == codes.DECODE_ERROR
    assert code("big.txt", b"x" * 2000) == codes.TOO_LARGE
    assert code("x.pdf", b"%PDF") == codes.UNSUPPORTED


def test_jsonl_broken_lines_fail_alone() -> None:
    data = b'{"id": "a", "text": "first"}\n{broken\n\n["no"]\n{"text": "third", "title": "T"}\n'
    out = parse_source("d.jsonl", data, max_bytes=10_000)
    oks = [r.value for r in out if isinstance(r, Ok)]
    errs = [r.error for r in out if isinstance(r, Err)]
    assert [d.source for d in oks] == ["d.jsonl#a", "d.jsonl#L5"]
    assert oks[1].title == "T"
    assert [(e.code, e.path) for e in errs] == [
        (codes.PARSE_ERROR, ("d.jsonl#L2",)),
        (codes.PARSE_ERROR, ("d.jsonl#L4",)),
    ]


def test_html_keeps_visible_text_only() -> None:
    """The document is the source page (offsets point into it); its chunks are readable."""
    html = (
        b"<html><head><title>Hi</title><style>p{color:red}</style></head>"
        b"<body><h1>Head</h1><p>One &amp; two</p><script>alert(1)</script><p>three</p></body>"
    )
    [r] = parse_source("p.html", html, max_bytes=10_000)
    assert isinstance(r, Ok)
    assert r.value.title == "Hi"
    assert r.value.text == html.decode()
    [c] = chunk_document(r.value, ChunkingConfig(100, 0))
    assert c.text == "Head\n\nOne & two\n\nthree"
    assert (c.title, c.headings) == ("Hi", ("Head",))
    assert (
        r.value.text[c.start : c.end]
        == "Head</h1><p>One &amp; two</p><script>alert(1)</script><p>three"
    )


# -- chunking ---------------------------------------------------------------------------------


@given(texts, st.sampled_from(["md", "txt"]), st.integers(16, 80), st.integers(0, 15))
def test_chunk_offsets_are_exact(text: str, kind: str, size: int, overlap: int) -> None:
    """Plain text is its own readable text; Markdown chunks are readable, their spans exact
    (the generated-markup laws are in test_rag_markup)."""
    doc = make_document("k", clean_text(text), kind)
    chunks = chunk_document(doc, ChunkingConfig(size, overlap))
    if kind == "txt":
        assert all(doc.text[c.start : c.end] == c.text for c in chunks)
    assert all(doc.text[c.start] == c.text[0] for c in chunks)
    assert all(doc.text[c.end - 1] == c.text[-1] for c in chunks)
    assert all(c.end - c.start >= len(c.text) for c in chunks)
    assert all(len(c.text) <= size for c in chunks)
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    if doc.text.strip():
        assert chunks


def test_repeated_paragraphs_keep_distinct_ids() -> None:
    para = "The same paragraph, repeated verbatim."
    doc = make_document("r.txt", "\n\n".join([para] * 5), "txt")
    recs = desired_records(doc, SyncContext(EMB, "s", ChunkingConfig(40, 0)))
    assert len(recs) == 5
    assert len({r.id for r in recs}) == 5
    assert [r.occurrence for r in recs] == [0, 1, 2, 3, 4]


# -- sync planning ----------------------------------------------------------------------------

Store = dict[str, StoredRecord]


def clean_run(doc_text: str, source: str = "s.md") -> Store:
    doc = make_document(source, doc_text, "md")
    return apply_plan({}, plan_document(doc, SourceState(), CTX))


@given(texts, texts, st.data())
def test_plan_is_idempotent_and_crashes_converge(old: str, new: str, data: st.DataObject) -> None:
    old_doc, new_doc = make_document("s.md", old, "md"), make_document("s.md", new, "md")
    assume(old_doc.text.strip() and new_doc.text.strip())
    start = clean_run(old)
    plan = plan_document(new_doc, state_of(start, "s.md"), CTX)
    final = apply_plan(start, plan)
    # Idempotence: planning against the state the plan produced gives an empty plan.
    again = plan_document(new_doc, state_of(final, "s.md"), CTX)
    assert again.is_noop
    assert again.action == "unchanged"
    # The result is exactly what a clean run into an empty store produces.
    assert final == clean_run(new)
    # A crash after any prefix of the writes, then a re-run, converges to the same state.
    steps = plan_steps(plan)
    cut = data.draw(st.integers(0, len(steps)))
    crashed = dict(start)
    for op, pid, rec in steps[:cut]:
        if op == "upsert" and rec is not None:
            crashed[pid] = rec
        else:
            crashed.pop(pid, None)
    replan = plan_document(new_doc, state_of(crashed, "s.md"), CTX)
    assert apply_plan(crashed, replan) == final
    # Re-running only ever embeds chunks whose content is new.
    old_hashes = {r.chunk_hash for r in start.values() if hasattr(r, "chunk_hash")}
    assert not any(r.chunk_hash in old_hashes and r.id in start for r in replan.embed)
    assert verify_records(final.values()).ok
    assert verify_records(apply_plan(crashed, replan).values()).ok


@given(texts)
def test_current_marker_means_unchanged(text: str) -> None:
    doc = make_document("s.md", text, "md")
    assume(doc.text.strip())
    store = clean_run(text)
    state = state_of(store, "s.md")
    assert is_current(doc, state.commit, CTX)
    other = SyncContext(EMB, "spec-2", CTX.chunking)
    assert not is_current(doc, state.commit, other)
    # A new spec hash rewrites payloads but embeds nothing.
    replan = plan_document(doc, state, other)
    assert replan.action == "updated"
    assert not replan.embed
    assert replan.rewrite


@given(texts, st.data())
def test_delete_plan_removes_everything_and_crashes_converge(
    text: str, data: st.DataObject
) -> None:
    assume(clean_text(text).strip())
    start = clean_run(text)
    plan = plan_source("s.md", None, "", state_of(start, "s.md"), CTX)
    assert plan.action == "deleted"
    assert apply_plan(start, plan) == {}
    steps = plan_steps(plan)
    cut = data.draw(st.integers(0, len(steps)))
    crashed = dict(start)
    for _, pid, _ in steps[:cut]:
        crashed.pop(pid, None)
    replan = plan_source("s.md", None, "", state_of(crashed, "s.md"), CTX)
    assert apply_plan(crashed, replan) == {}
    assert plan_source("s.md", None, "", SourceState(), CTX).is_noop


@given(texts, texts, st.data())
def test_verify_finds_half_written_sources_and_repair_fixes_them(
    old: str, new: str, data: st.DataObject
) -> None:
    new_doc = make_document("s.md", new, "md")
    assume(clean_text(old).strip() and new_doc.text.strip() and clean_text(old) != new_doc.text)
    start = clean_run(old)
    plan = plan_document(new_doc, state_of(start, "s.md"), CTX)
    steps = plan_steps(plan)
    cut = data.draw(st.integers(0, len(steps)))
    crashed = dict(start)
    for op, pid, rec in steps[:cut]:
        if op == "upsert" and rec is not None:
            crashed[pid] = rec
        else:
            crashed.pop(pid, None)
    report = verify_records(crashed.values())
    if cut in (0, len(steps)):
        assert report.ok
    repaired = {k: v for k, v in crashed.items() if k not in set(report.repair_deletes)}
    assert verify_records(repaired.values()).ok


def test_verify_reports_orphans() -> None:
    store = clean_run("some text here")
    orphans = {k: v for k, v in store.items() if v.__class__.__name__ == "ChunkRecord"}
    report = verify_records(orphans.values())
    assert [p.code for p in report.problems] == ["ORPHAN"]
    assert set(report.repair_deletes) == set(orphans)


def test_prune_only_touches_unseen_unprotected_sources_under_roots() -> None:
    stored = ["docs/a.md", "docs/b.md", "docs/sub/c.md", "other/d.md", "docs/e.jsonl#1"]
    got = prune_candidates(stored, seen=["docs/a.md"], roots=["docs"], protected=["docs/e.jsonl"])
    assert got == ["docs/b.md", "docs/sub/c.md"]
    assert prune_candidates(stored, seen=[], roots=["docs/b.md"]) == ["docs/b.md"]
    assert prune_candidates(stored, seen=[], roots=["doc"]) == []


@given(st.text(alphabet="ab \n", max_size=400), st.integers(4, 50))
def test_blocks_cover_the_text_in_bounded_pieces(text: str, size: int) -> None:
    parts = blocks(text, size)
    assert "".join(p for _, p in parts) == text
    assert all(0 < len(p) <= size for _, p in parts)
    assert all(text[o : o + len(p)] == p for o, p in parts)


def test_one_enormous_line_is_chunked_exactly() -> None:
    doc = make_document("big.txt", "word " * 40_000, "txt")
    chunks = chunk_document(doc, ChunkingConfig(100, 10))
    assert len(chunks) > 1000
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)


def test_a_hash_or_question_mark_in_a_file_name_is_part_of_the_name() -> None:
    """``x#y.md`` and ``q?.md`` are Markdown files (they were UNSUPPORTED: the fragment and
    query rule of URLs was applied to file names); a URL's fragment and query still go."""
    assert kind_of("docs/x#y.md") == "md"
    assert kind_of("docs/q?.md") == "md"
    assert kind_of("r0/d/hash#1.rst") == "rst"
    assert kind_of("docs/x.md#y") is None  # a file named "x.md#y" has no known extension
    assert kind_of("https://example.org/a.md#part") == "md"
    assert kind_of("https://example.org/a.rst?x=1") == "rst"
    docs = parse_source("docs/x#y.md", b"# Title\n\nSome text.\n", max_bytes=1000)
    assert [d.is_ok() for d in docs] == [True]
