"""Cleaning: the normal form of a document's text (offsets and versions refer to it)."""

from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NEWLINES = re.compile(r"\r\n?|\u2028|\u2029|\x85")


def clean_text(text: str) -> str:
    """Normalise text: drop a BOM, ``\\r\\n``/``\\r`` -> ``\\n``, NFC, controls -> space.

    Idempotent: ``clean_text(clean_text(s)) == clean_text(s)``. A UTF-8 file with ``\\n``
    newlines, already in NFC and without control characters is its own clean form, so offsets
    into the clean text are offsets into the file.
    """
    text = _NEWLINES.sub("\n", text.lstrip("\ufeff"))
    text = _CONTROL.sub(" ", text)
    return unicodedata.normalize("NFC", text)
