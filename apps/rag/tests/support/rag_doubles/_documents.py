"""Documents made in tests: PDFs (fpdf2) and DOCX files (python-docx)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import docx
from fpdf import FPDF


def make_pdf(
    pages: Sequence[str],
    *,
    title: str = "",
    header: str = "",
    roman: int = 0,
    password: str = "",
) -> bytes:
    """A PDF of ``pages`` (one text per page, wrapped), each under ``header`` when given; the
    first ``roman`` pages labelled i, ii, ... and the rest 1, 2, ...; encrypted with
    ``password`` when given."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    if title:
        pdf.set_title(title)
    if password:
        pdf.set_encryption(owner_password=password, user_password=password)
    for i, text in enumerate(pages):
        pdf.add_page()
        if roman and i == 0:
            pdf.set_page_label(label_style="r")
        if roman and i == roman:
            pdf.set_page_label(label_style="D", label_start=1)
        if header:
            pdf.cell(0, 8, header)
            pdf.ln()
        if text:
            pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def image_only_pdf() -> bytes:
    """A one-page PDF holding only a picture (a scan: no text layer)."""
    from PIL import Image

    img = Image.new("L", (200, 100), 128)
    pdf = FPDF()
    pdf.add_page()
    pdf.image(img, x=10, y=10, w=100)
    return bytes(pdf.output())


def blank_pdf(n: int) -> bytes:
    """A PDF of ``n`` blank pages, written directly (fpdf2 takes seconds for 10,000)."""
    kids = b" ".join(b"%d 0 R" % (3 + i) for i in range(n))
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n),
    ]
    objs += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"] * n
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def make_docx(blocks: Sequence[tuple[str, object]], *, core_title: str = "") -> bytes:
    """A DOCX of ``blocks``: ``("h1".."h3", text)`` headings, ``("p", text)`` paragraphs,
    ``("table", rows)`` tables (rows of cell texts)."""
    d = docx.Document()
    if core_title:
        d.core_properties.title = core_title
    for what, value in blocks:
        if what.startswith("h"):
            d.add_heading(str(value), level=int(what[1:]))
        elif what == "p":
            d.add_paragraph(str(value))
        elif what == "table" and isinstance(value, list):
            rows: list[list[str]] = value
            t = d.add_table(rows=len(rows), cols=len(rows[0]))
            for r, row in enumerate(rows):
                for c, cell in enumerate(row):
                    t.cell(r, c).text = cell
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()
