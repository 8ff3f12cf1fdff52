"""The parser plug-in point: formats read by an extractor, registered by entry points.

A package registers a format in the entry-point group ``funcpipe_rag.parsers``; the entry
point names an ``Extractor``: its ``name`` and ``version`` (its identity: part of each
document's raw hash, so a new version re-extracts on purpose), the file ``extensions`` it
reads, and ``extract(data, limits)``, a top-level function (it runs in a worker process)
giving ``Ok(Extracted)`` or ``Err`` (ENCRYPTED, NO_TEXT, DECODE_ERROR, TOO_LARGE, ...). The
built-in PDF and DOCX extractors are registered the same way (``apps/rag/pyproject.toml``)
and are also known without it. An entry point that fails to load is left out (a warning is
the caller's: ``broken``). The first extractor for an extension wins; built-ins first.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, entry_points, version

from ._docx import extract_docx
from ._pdf import extract_pdf
from ._pool import ExtractFn

GROUP = "funcpipe_rag.parsers"


@dataclass(frozen=True, slots=True)
class Extractor:
    """A format: who reads it (``name``, ``version``), its extensions, its function."""

    name: str
    version: str
    extensions: tuple[str, ...]
    extract: ExtractFn

    @property
    def identity(self) -> str:
        return f"{self.name}/{self.version}"


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "0"


PDF = Extractor("pypdfium2", _version("pypdfium2"), (".pdf",), extract_pdf)
"""The built-in PDF extractor (pypdfium2: text in reading order, page labels)."""
DOCX = Extractor("python-docx", _version("python-docx"), (".docx",), extract_docx)
"""The built-in DOCX extractor (python-docx: paragraphs and tables, heading styles)."""


def load_extractors() -> tuple[dict[str, Extractor], list[str]]:
    """Extension -> extractor for every registered format, and the entry points that failed
    to load (``name: why``)."""
    table: dict[str, Extractor] = {}
    broken: list[str] = []
    found: list[Extractor] = [PDF, DOCX]
    for ep in entry_points(group=GROUP):
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plug-in must not break the app
            broken.append(f"{ep.name}: {type(exc).__name__}: {exc}")
            continue
        if isinstance(obj, Extractor):
            found.append(obj)
        else:
            broken.append(f"{ep.name}: not an Extractor ({type(obj).__name__})")
    for ex in found:
        for ext in ex.extensions:
            table.setdefault(ext.lower(), ex)
    return table, broken


_TABLE: dict[str, Extractor] | None = None


def extractors() -> dict[str, Extractor]:
    """The registered extractors by extension (loaded once per process)."""
    global _TABLE
    if _TABLE is None:
        _TABLE = load_extractors()[0]
    return _TABLE


def extractor_for(name: str) -> Extractor | None:
    """The extractor of a file name (by its last extension), if one is registered."""
    dot = name.rfind(".")
    return extractors().get(name[dot:].lower()) if dot > 0 else None
