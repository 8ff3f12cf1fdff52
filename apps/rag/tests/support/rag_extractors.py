"""Extractors for tests of the worker pool and the plug-in point: top-level functions in a
light module (a worker process imports it by name to run them; it imports nothing heavy)."""

from __future__ import annotations

import os
import time

from funcpipe.result import ErrInfo, Ok, Result
from funcpipe_rag.adapters.extract import Extractor, extract_pdf
from funcpipe_rag.domain import Extracted, Limits


def sleepy_extract(data: bytes, limits: Limits) -> Result[Extracted, ErrInfo]:
    """An extractor that never finishes in time (for the TIMEOUT law)."""
    time.sleep(3600)
    return Ok(Extracted(data.decode(), "txt"))


def crashing_extract(data: bytes, limits: Limits) -> Result[Extracted, ErrInfo]:
    """An extractor whose process dies (as a crash in C code would)."""
    os._exit(3)


def echo_extract(data: bytes, limits: Limits) -> Result[Extracted, ErrInfo]:
    """An extractor that reads UTF-8 text as it is."""
    return Ok(Extracted(data.decode(), "txt"))


EXTRACTED: list[int] = [0]
"""How many times ``counting_pdf`` ran (in this process: a pool of ``jobs=0``)."""


def counting_pdf(data: bytes, limits: Limits) -> Result[Extracted, ErrInfo]:
    """The built-in PDF extractor, counted."""
    EXTRACTED[0] += 1
    return extract_pdf(data, limits)


ODT_PLUGIN = Extractor("odt-plugin", "1.0", (".odt",), echo_extract)
"""A plug-in format registered by a test's entry point (``.odt`` read as UTF-8 text)."""
