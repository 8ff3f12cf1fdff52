"""A binary document file as a source: its bytes, and its extraction in the pool.

``read_bytes`` gives the file's bytes (TOO_LARGE past ``limits.max_bytes``; NOT_FOUND,
PERMISSION_DENIED, ... as the file reader says); ``extract(data)`` runs the file's extractor
in the pool (TIMEOUT, ENCRYPTED, NO_TEXT, DECODE_ERROR, TOO_LARGE); ``read`` is both, giving
the extracted text (what ``show`` prints). Never raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from funcpipe.adapters.files import os_error_info
from funcpipe.adapters.runtime import run_blocking
from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from funcpipe_rag.domain._locator import Extracted, Limits

from ._pool import ExtractPool
from ._registry import Extractor


def _read(path: str, limit: int) -> bytes:
    with open(path, "rb") as f:
        return f.read(limit)


@dataclass(frozen=True, slots=True)
class DocRaw:
    """One binary document file (a ``BinarySource``)."""

    key: str
    path: Path
    extractor: Extractor
    pool: ExtractPool
    limits: Limits = field(default_factory=Limits)

    @property
    def identity(self) -> str:
        return self.extractor.identity

    def read_bytes(self, max_bytes: int) -> AsyncPlan[bytes]:
        limit = max(max_bytes, self.limits.max_bytes)
        p = str(self.path)

        async def _run() -> Result[bytes, ErrInfo]:
            try:
                data = await run_blocking(partial(_read, p, limit + 1))
            except OSError as exc:
                return Err(os_error_info(exc, p))
            if len(data) > limit:
                msg = f"{p}: over the limit of {limit} bytes"
                return Err(ErrInfo(codes.TOO_LARGE, msg, ctx={"path": p}))
            return Ok(data)

        return _run

    def extract(self, data: bytes) -> AsyncPlan[Extracted]:
        async def _run() -> Result[Extracted, ErrInfo]:
            return await self.pool.run(self.extractor.extract, data, self.limits)

        return _run

    def read(self, max_bytes: int) -> AsyncPlan[str]:
        async def _run() -> Result[str, ErrInfo]:
            got = await self.read_bytes(max_bytes)()
            if isinstance(got, Err):
                return got
            ex = await self.extract(got.value)()
            return ex if isinstance(ex, Err) else Ok(ex.value.text)

        return _run
