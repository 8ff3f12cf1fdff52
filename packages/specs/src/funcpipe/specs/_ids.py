"""The one spelling of an id: registry ids, size ids and names of shared policies."""

from __future__ import annotations

import re
from typing import TypeGuard

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$"
"""Letters, digits and ``_ . : / -``, starting with a letter or digit, at most 128 chars."""

_ID = re.compile(ID_PATTERN)


def is_id(value: object) -> TypeGuard[str]:
    """True when ``value`` is a str spelled as an id."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None
