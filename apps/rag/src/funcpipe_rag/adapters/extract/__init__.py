"""Extraction of binary documents (PDF, DOCX, plug-ins) in a bounded pool of processes."""

from ._docx import extract_docx as extract_docx
from ._pdf import extract_pdf as extract_pdf
from ._pool import ExtractPool as ExtractPool
from ._raw import DocRaw as DocRaw
from ._registry import DOCX as DOCX
from ._registry import GROUP as GROUP
from ._registry import PDF as PDF
from ._registry import Extractor as Extractor
from ._registry import extractor_for as extractor_for
from ._registry import extractors as extractors
from ._registry import load_extractors as load_extractors

__all__ = [
    "DOCX",
    "GROUP",
    "PDF",
    "DocRaw",
    "ExtractPool",
    "Extractor",
    "extract_docx",
    "extract_pdf",
    "extractor_for",
    "extractors",
    "load_extractors",
]
