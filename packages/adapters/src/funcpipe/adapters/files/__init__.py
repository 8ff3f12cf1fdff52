"""funcpipe.adapters.files: reading text files (extra ``[files]``).

- ``read_text(path, *, max_bytes=16 MiB)`` -> ``AsyncPlan[str]``
- ``FileReader(max_batch=32).read_text(path, *, max_bytes)``: the same, with the reads that
  concurrent callers start together coalesced into one executor hop per batch
- ``read_lines(path, *, max_line_bytes=1 MiB)`` -> ``AsyncGen[str]``
"""

# The guard runs before the imports below, so a missing extra names the install to run.
# ruff: noqa: E402
from funcpipe.adapters._extras import require_extra

require_extra("files", "aiofiles")

from ._errors import os_error_info as os_error_info
from ._read import DEFAULT_MAX_BYTES as DEFAULT_MAX_BYTES
from ._read import DEFAULT_MAX_LINE_BYTES as DEFAULT_MAX_LINE_BYTES
from ._read import read_lines as read_lines
from ._read import read_text as read_text
from ._read import text_of as text_of
from ._reader import FileReader as FileReader

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_LINE_BYTES",
    "FileReader",
    "os_error_info",
    "read_lines",
    "read_text",
    "text_of",
]
