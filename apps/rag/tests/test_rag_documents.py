"""Documents teams hold: Sphinx sources, PDF and DOCX, with locators a person can follow.

Real files made in the test (fpdf2, python-docx, a hand-written PDF of 10,000 blank pages),
the real extractors, the real worker pool and the embedded store (with a hashing embedder).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import pytest
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe_rag.adapters import EmbedderPort
from funcpipe_rag.adapters.extract import (
    Extractor,
    ExtractPool,
    extract_docx,
    extract_pdf,
    load_extractors,
)
from funcpipe_rag.adapters.extract._pdf import drop_running, normalise_page
from funcpipe_rag.app import Settings, run_ingest, run_search, source_text
from funcpipe_rag.cli import cli
from funcpipe_rag.domain import (
    ENCRYPTED,
    NO_TEXT,
    ChunkingConfig,
    Document,
    EmbedderId,
    Extracted,
    Limits,
    SyncContext,
    cite,
    desired_records,
    doc_version,
)
from funcpipe_rag.pipelines import DEFAULT_SETTINGS, IngestReport
from hypothesis import given, settings
from hypothesis import strategies as st
from rag_doubles import (
    HashEmbedder,
    blank_pdf,
    drive,
    image_only_pdf,
    make_docx,
    make_pdf,
    stored,
)
from rag_extractors import EXTRACTED, counting_pdf, crashing_extract, echo_extract, sleepy_extract
from typer.testing import CliRunner

EMB = EmbedderPort(HashEmbedder(32))


def settings_for(tmp: Path, jobs: int = 0) -> Settings:
    return Settings.model_construct(data_dir=tmp / "data", collection="docs", jobs=jobs)


def ingest_docs(settings: Settings, root: Path) -> IngestReport:
    return drive(
        lambda: run_ingest(
            settings, DEFAULT_SETTINGS, [str(root / "docs")], base=root, embedder=EMB
        )
    )


# -- 1. Sphinx sources -----------------------------------------------------------------------

RST_TXT = """\
.. _streams-guide:

*******
Streams
*******

Bounded maps
============

Use :func:`bounded_map` to keep at most eight calls in flight; see :ref:`streams-guide`.

.. note::

   Results keep their order.
"""


def test_sphinx_sources_are_read_as_their_markup(tmp_path: Path) -> None:
    sources = tmp_path / "docs" / "_sources" / "library"
    sources.mkdir(parents=True)
    (sources / "streams.rst.txt").write_text(RST_TXT)
    (sources / "guide.md.txt").write_text("# Guide\n\n## Install\n\nRun **pip install** once.\n")
    settings = settings_for(tmp_path)
    report = ingest_docs(settings, tmp_path)
    assert report.errors == []
    hits = drive(lambda: run_search(settings, "bounded_map calls in flight", 2, embedder=EMB))
    top = hits[0]
    assert top.source == "docs/_sources/library/streams.rst.txt"  # the key keeps the real name
    assert (top.title, top.headings[:1]) == ("Streams", ("Streams",))
    assert "Bounded maps" in top.text
    assert ":func:" not in top.text
    assert ":ref:" not in top.text
    assert "****" not in top.text
    assert "bounded_map" in top.text
    md = drive(lambda: run_search(settings, "pip install once", 1, embedder=EMB))[0]
    assert (md.source, md.title, md.headings[:1]) == (
        "docs/_sources/library/guide.md.txt",
        "Guide",
        ("Guide",),
    )
    assert "Install" in md.text
    assert "**" not in md.text
    assert "#" not in md.text


# -- 2. PDF and DOCX extraction ----------------------------------------------------------------


def test_pdf_text_per_page_with_labels_title_and_running_headers_removed() -> None:
    pages = [
        f"Part {n}: the {word} chapter explains bounded maps. A hyphen-\nated word ends it."
        for n, word in enumerate(["first", "second", "third", "fourth"], 1)
    ]
    data = make_pdf(pages, title="Guide to Streams", header="ACME Manual", roman=2)
    got = extract_pdf(data, Limits())
    assert isinstance(got, Ok)
    x = got.value
    assert (x.kind, x.title) == ("pdf", "Guide to Streams")
    assert x.marks is not None
    assert x.marks.labels == ("i", "ii", "1", "2")
    assert "ACME Manual" not in x.text  # a running header, on every page
    assert x.text.count("hyphenated word") == 4
    for i, word in enumerate(["first", "second", "third", "fourth"]):
        a = x.marks.starts[i]
        b = x.marks.starts[i + 1] if i < 3 else len(x.text)
        assert f"the {word} chapter" in x.text[a:b]


REAL_PDFS = [
    Path("/usr/share/doc/libtasn1-doc/libtasn1.pdf"),  # Debian libtasn1-doc (texinfo)
    Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf"),  # Debian shared-mime-info
]


@pytest.mark.parametrize("path", REAL_PDFS, ids=lambda p: p.name)
def test_real_world_pdfs_the_project_did_not_make(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} is absent (install the Debian package that ships it)")
    import pypdfium2

    data = path.read_bytes()
    got = extract_pdf(data, Limits())
    assert isinstance(got, Ok)
    x = got.value
    assert x.marks is not None
    assert len(x.marks.starts) == len(pypdfium2.PdfDocument(data))
    assert len(x.text) > 10_000
    doc = Document(path.name, x.text, doc_version(x.text), x.kind, x.title, "", x.marks)
    recs = desired_records(doc, SyncContext(EmbedderId("m", 4), "s", ChunkingConfig(800, 80)))
    for r in recs:
        assert x.text[r.start : r.end] == r.text
        loc = dict(r.locator)
        assert loc["page"] == loc["page_end"]  # a PDF chunk never crosses a page
        assert loc["page_label"] == x.marks.label(int(loc["page"]) - 1)


def test_page_normal_form() -> None:
    assert normalise_page("e\ufb03cient \ufb01le\r\nbuf-\nfer soft\u00adhyphen") == (
        "efficient file\nbuffer softhyphen"
    )
    assert normalise_page("well-\nKnown") == "well-\nKnown"  # a capital: a real hyphen
    heads = ["Report 1\nbody a", "Report 2\nbody b", "Report 3\nbody c", "other\nbody d"]
    assert drop_running(heads) == ["body a", "body b", "body c", "other\nbody d"]
    assert drop_running(heads[:2]) == heads[:2]  # two pages say nothing of a running header


def test_docx_blocks_headings_tables_and_title() -> None:
    data = make_docx(
        [
            ("h1", "Operations"),
            ("p", "Start the service with the run command."),
            ("h2", "Limits"),
            ("table", [["name", "value"], ["timeout", "30 s"]]),
            ("p", "Limits are checked per request."),
        ],
        core_title="Ops Handbook",
    )
    got = extract_docx(data, Limits())
    assert isinstance(got, Ok)
    x = got.value
    assert x.title == "Ops Handbook"
    assert x.marks is not None
    assert len(x.marks.starts) == 5
    assert "timeout | 30 s" in x.text
    doc = Document("h.docx", x.text, doc_version(x.text), x.kind, x.title, "", x.marks)
    ctx = SyncContext(EmbedderId("m", 4), "s", ChunkingConfig(60, 0))
    recs = desired_records(doc, ctx)
    table = next(r for r in recs if "timeout" in r.text)
    assert table.headings == ("Operations", "Limits")
    loc = dict(table.locator)
    assert loc["block"] in (2, 3)
    assert loc["block_end"] in (3, 4)
    untitled = extract_docx(make_docx([("p", "intro"), ("h1", "First Head")]), Limits())
    assert isinstance(untitled, Ok)
    assert untitled.value.title == "First Head"


WORDS = st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta", "omega"]), max_size=40)


@given(pages=st.lists(WORDS, min_size=1, max_size=5), size=st.integers(40, 200))
def test_every_pdf_chunk_cites_its_exact_span_and_its_pages(
    pages: list[list[str]], size: int
) -> None:
    """For every chunk: the extracted text's span is exactly its text (what ``show --span``
    prints), and each word of it lies on a page between its first and last page."""
    texts = [" ".join(f"{w}{p}" for w in ws) for p, ws in enumerate(pages, 1)]
    got = extract_pdf(make_pdf(texts), Limits())
    if not any(texts):
        assert isinstance(got, Err)
        assert got.error.code == NO_TEXT
        return
    assert isinstance(got, Ok)
    x = got.value
    doc = Document("g.pdf", x.text, doc_version(x.text), x.kind, x.title, "", x.marks)
    ctx = SyncContext(EmbedderId("m", 4), "s", ChunkingConfig(size, 0))
    for r in desired_records(doc, ctx):
        assert x.text[r.start : r.end] == r.text
        loc = dict(r.locator)
        first, last = loc["page"], loc["page_end"]
        assert isinstance(first, int)
        assert isinstance(last, int)
        assert first <= last
        on = {int(t.rstrip("|")[-1]) for t in r.text.split() if t[-1].isdigit()}
        assert on <= set(range(first, last + 1))
        assert loc["page_label"] == str(first)
        assert loc["page_label_end"] == str(last)


def test_pdf_and_docx_ingest_search_cite_and_show(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    body = "Backpressure keeps the reader from outrunning the writer. " * 3
    pages = ["Preface on reading.", "Contents list.", body, "Appendix on retries and jitter."]
    (docs / "guide.pdf").write_bytes(make_pdf(pages, title="Guide", roman=2))
    (docs / "ops.docx").write_bytes(
        make_docx([("h1", "Runbook"), ("p", "Rotate the signing keys every quarter.")])
    )
    settings = settings_for(tmp_path, jobs=1)  # a real worker process
    first = ingest_docs(settings, tmp_path)
    assert first.errors == []
    assert first.sources_added == 2
    again = ingest_docs(settings, tmp_path)  # the same bytes: a hash, nothing else
    assert (again.sources_unchanged, again.chunks_embedded) == (2, 0)

    hit = drive(lambda: run_search(settings, "backpressure reader writer", 1, embedder=EMB))[0]
    assert hit.source == "docs/guide.pdf"
    assert hit.title == "Guide"
    loc = dict(hit.locator)
    assert loc["page"] == 3
    assert loc["page_label"] == "1"
    assert (
        cite(hit.source, hit.locator)
        == f"docs/guide.pdf p. 1{'' if loc['page_end'] == 3 else '-2'}"
    )
    text = drive(lambda: source_text(str(docs / "guide.pdf")))
    assert text[hit.start : hit.end] == hit.text
    assert hit.to_json()["locator"] == loc

    runner = CliRunner()
    shown = runner.invoke(
        cli, ["show", str(docs / "guide.pdf"), "--span", f"{hit.start}:{hit.end}"]
    )
    assert (shown.exit_code, shown.stdout) == (0, hit.text)
    bad = runner.invoke(cli, ["show", str(docs / "guide.pdf"), "--span", "5:1"])
    assert bad.exit_code == 2

    ops = drive(lambda: run_search(settings, "rotate signing keys quarter", 1, embedder=EMB))[0]
    assert (ops.source, ops.title, ops.headings) == ("docs/ops.docx", "Runbook", ("Runbook",))
    assert dict(ops.locator) == {"block": 0, "block_end": 1} or dict(ops.locator)["block_end"] == 1


def test_the_extractor_identity_re_extracts_once_on_purpose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from funcpipe_rag.adapters.extract import _registry

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.pdf").write_bytes(make_pdf(["Offsets point into this text."]))
    settings = settings_for(tmp_path)

    def run_with(version: str) -> tuple[int, int, int, int]:
        ex = Extractor("pypdfium2", version, (".pdf",), counting_pdf)
        monkeypatch.setattr(_registry, "_TABLE", {".pdf": ex})
        before = EXTRACTED[0]
        r = ingest_docs(settings, tmp_path)
        assert r.errors == []
        added, same = r.sources_added, r.sources_unchanged
        return (EXTRACTED[0] - before, added, same, r.sources_updated)

    assert run_with("1.0") == (1, 1, 0, 0)
    assert run_with("1.0") == (0, 0, 1, 0)  # the same bytes: a hash, no extraction
    assert run_with("2.0") == (1, 0, 0, 1)  # a new extractor: extracted again, on purpose
    assert run_with("2.0") == (0, 0, 1, 0)


def test_parsers_register_by_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "odt_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: odt-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[funcpipe_rag.parsers]\n"
        "odt = rag_extractors:ODT_PLUGIN\n"
        "broken = rag_extractors:NO_SUCH_NAME\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    table, broken = load_extractors()
    assert table[".pdf"].name == "pypdfium2"
    assert table[".docx"].name == "python-docx"
    assert table[".odt"].identity == "odt-plugin/1.0"
    assert [b.split(":")[0] for b in broken] == ["broken"]


def test_a_dask_worker_prepares_a_pdf_and_its_locators_cross_the_wire(tmp_path: Path) -> None:
    from funcpipe_rag.adapters import file_source
    from funcpipe_rag.domain import Document
    from funcpipe_rag.pipelines import (
        Known,
        PreparedList,
        prepare_source,
        prepared_of,
        prepared_to_plain,
    )

    path = tmp_path / "w.pdf"
    path.write_bytes(make_pdf(["First page words.", "Second page words."], roman=1))
    ctx = SyncContext(EmbedderId("m", 4), "s", ChunkingConfig(200, 0))
    raw = file_source("w.pdf", path)

    async def prep(known: Known | None) -> Result[PreparedList, ErrInfo]:
        return await prepare_source(raw, known, max_bytes=1 << 20, ctx=ctx)()

    got = drive(lambda: prep(None))
    [one] = got
    assert isinstance(one, Ok)
    records = one.value.records
    assert [dict(r.locator)["page_label"] for r in records] == ["i", "1"]
    back = prepared_of(json.loads(json.dumps(prepared_to_plain(got))), ctx, "shard-0")
    assert back == got  # the locators travel as plain data
    doc = one.value.doc
    assert isinstance(doc, Document)
    known = Known(doc.raw_hash, doc.version)
    again = drive(lambda: prep(known))
    assert isinstance(again[0], Ok)
    assert again[0].value.records == ()  # unchanged: nothing extracted, nothing to write


ACTIONS = ["pdf", "pdf2", "docx", "html", "truncate", "encrypt", "delete"]


def _apply(path: Path, action: str) -> None:
    """One edit of a document file (what a team does to its folder)."""
    word = path.stem
    if action == "delete" or (action == "truncate" and not path.exists()):
        path.unlink(missing_ok=True)
    elif action == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif action == "pdf":
        path.write_bytes(make_pdf([f"{word} alpha beta.", f"{word} gamma delta."]))
    elif action == "pdf2":
        path.write_bytes(make_pdf([f"{word} alpha beta, edited.", "", f"{word} omega."]))
    elif action == "docx":
        path.write_bytes(make_docx([("h1", word), ("p", f"{word} paragraph text.")]))
    elif action == "html":
        path.write_bytes(f"<!doctype html><title>{word}</title><p>{word} page.</p>".encode())
    else:
        path.write_bytes(make_pdf([f"{word} locked."], password="pw"))


LAW_EXAMPLES = 40 if os.environ.get("HYPOTHESIS_PROFILE") == "deep" else 2
"""Each example runs several real ingests: a few in CI, many under the deep profile."""


@settings(max_examples=LAW_EXAMPLES)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["a.pdf", "b.docx"]), st.sampled_from(ACTIONS)),
        min_size=1,
        max_size=3,
    )
)
def test_the_store_after_edits_to_documents_equals_a_clean_run(
    steps: list[tuple[str, str]],
) -> None:
    """Edits, truncations, encryption, a format swapped for another: after each ingest (with
    --prune) the store holds, for every source that reads, what a clean run writes; a source
    that fails keeps what it had (never half-written)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "docs").mkdir()
        (root / "docs" / "keep.md").write_text("# Keep\n\nA page that never changes.\n")
        live = settings_for(root)
        failed: set[str] = set()
        for name, action in steps:
            _apply(root / "docs" / name, action)
            r = drive(
                lambda: run_ingest(
                    live,
                    DEFAULT_SETTINGS,
                    [str(root / "docs")],
                    base=root,
                    embedder=EMB,
                    prune=True,
                )
            )
            failed = {e.source for e in r.errors}
        clean = Settings.model_construct(data_dir=root / "clean", collection="docs", jobs=0)
        ingest_docs(clean, root)

        def readable(s: Settings) -> dict[str, object]:
            return {k: v for k, v in stored(s).items() if getattr(v, "source", "") not in failed}

        assert readable(live) == readable(clean)


# -- 3. bad input: a code, one line, nothing else lost -------------------------------------------


def _code(data: bytes, limits: Limits | None = None, docx: bool = False) -> str:
    got = (extract_docx if docx else extract_pdf)(data, limits or Limits())
    assert isinstance(got, Err)
    assert "\n" not in got.error.msg
    return got.error.code


def test_encrypted_pdf_is_ENCRYPTED() -> None:
    assert _code(make_pdf(["secret plans"], password="pw")) == ENCRYPTED


def test_image_only_pdf_is_NO_TEXT_and_says_ocr_is_out_of_scope() -> None:
    got = extract_pdf(image_only_pdf(), Limits())
    assert isinstance(got, Err)
    assert got.error.code == NO_TEXT
    assert "OCR is out of scope" in got.error.msg


def test_truncated_pdf_is_DECODE_ERROR() -> None:
    data = make_pdf(["a page of text"] * 3)
    assert _code(data[: len(data) // 2]) == codes.DECODE_ERROR
    assert _code(b"%PDF-1.7\n" + b"\x00garbage" * 50) == codes.DECODE_ERROR


def test_ten_thousand_blank_pages_is_TOO_LARGE() -> None:
    assert _code(blank_pdf(10_000)) == codes.TOO_LARGE
    big_text = make_pdf(["word " * 400] * 3)
    assert _code(big_text, Limits(max_chars=3000)) == codes.TOO_LARGE


def test_docx_bad_inputs_ENCRYPTED_DECODE_ERROR_TOO_LARGE() -> None:
    assert _code(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, docx=True) == ENCRYPTED
    good = make_docx([("p", "hello")])
    assert _code(good[: len(good) // 2], docx=True) == codes.DECODE_ERROR
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", b"\x00" * 5_000_000)  # a bomb: 5 MB from a few KB
    assert len(buf.getvalue()) < 50_000
    assert _code(buf.getvalue(), Limits(max_bytes=1_000_000), docx=True) == codes.TOO_LARGE


def test_a_pdf_that_is_html_or_text_is_read_as_what_it_is() -> None:
    html = b"<!DOCTYPE html><html><title>Not a PDF</title><p>Served as a page.</p></html>"
    got = extract_pdf(html, Limits())
    assert isinstance(got, Ok)
    assert got.value.kind == "html"
    assert got.value.marks is None
    txt = extract_pdf(b"plain words in a misnamed file\n", Limits())
    assert isinstance(txt, Ok)
    assert txt.value.kind == "txt"


@pytest.mark.asyncio
async def test_a_worker_past_the_time_limit_is_killed_TIMEOUT_and_the_pool_goes_on() -> None:
    pool = ExtractPool(1)
    try:
        slow = await pool.run(sleepy_extract, b"x", Limits(seconds=0.5))
        assert isinstance(slow, Err)
        assert slow.error.code == codes.TIMEOUT
        crashed = await pool.run(crashing_extract, b"x", Limits())
        assert isinstance(crashed, Err)
        assert crashed.error.code == codes.UNEXPECTED
        fine = await pool.run(echo_extract, b"still here", Limits())
        assert fine == Ok(Extracted("still here", "txt"))
        assert pool.replaced == 2
    finally:
        pool.close()


def test_a_folder_of_bad_documents_fails_each_alone(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "locked.pdf").write_bytes(make_pdf(["secret"], password="pw"))
    (docs / "scan.pdf").write_bytes(image_only_pdf())
    (docs / "cut.pdf").write_bytes(make_pdf(["text"])[:300])
    (docs / "page.pdf").write_bytes(b"<!doctype html><html><title>Page</title><p>Hi there.</p>")
    (docs / "good.md").write_text("# Good\n\nThis one is fine.\n")
    report = ingest_docs(settings_for(tmp_path), tmp_path)
    errors = {e.source: e.code for e in report.errors}
    assert errors == {
        "docs/locked.pdf": ENCRYPTED,
        "docs/scan.pdf": NO_TEXT,
        "docs/cut.pdf": codes.DECODE_ERROR,
    }
    assert report.sources_added == 2  # good.md and the HTML page.pdf
    assert json.dumps(errors)  # plain strings


@pytest.mark.parametrize("name", ["guide.pdf", "notes.docx"])
def test_ingest_help_lists_the_formats(name: str) -> None:
    res = CliRunner().invoke(cli, ["ingest", "--help"])
    assert res.exit_code == 0
    assert f".{name.rsplit('.', 1)[1]}" in res.stdout
    assert ".rst.txt" in res.stdout
