"""FakeHttpClient: an ``HttpPort`` serving pages from memory, with faults and HTTP statuses."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from types import MappingProxyType

from funcpipe.async_plan import AsyncPlan
from funcpipe.policies import Sleep
from funcpipe.ports import DEFAULT_MAX_BYTES, DEFAULT_MAX_LINE_BYTES, code_for_status
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen

from ._faults import FaultSchedule, InjectedFault
from ._ports import FaultPort


class FakeHttpClient(FaultPort):
    """An ``HttpPort`` over in-memory ``pages`` (url -> text). Never raises.

    Each GET is one attempt of the key ``url``. First the ``FaultSchedule`` outcome applies
    (latency; ``transient`` -> ``Err(TRANSIENT)``, ``timeout`` -> ``Err(TIMEOUT)``, ``hang``
    waits forever, ``exception`` -> ``Err(UNEXPECTED)``: the port never raises); then the HTTP
    status of that attempt: ``statuses[url][attempt - 1]`` when planned, else 200 for a known
    page and 404 otherwise. A non-2xx status is an ``Err`` coded like the real client
    (``code_for_status``), ``ctx`` holding ``status`` and ``url``; a 429 also carries
    ``ctx["retry_after_s"] = retry_after_s`` (unless ``None``), which a RetryPolicy honours.
    Every error has ``path=(url,)`` and ``stage="http"``. Bodies over ``max_bytes`` (UTF-8)
    -> TOO_LARGE; invalid JSON -> SERVICE_SPECIFIC.
    """

    port = "http"

    def __init__(
        self,
        pages: Mapping[str, str],
        *,
        statuses: Mapping[str, Sequence[int]] | None = None,
        retry_after_s: float | None = 1.0,
        schedule: FaultSchedule | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        super().__init__(schedule, sleep=sleep)
        self.pages: Mapping[str, str] = MappingProxyType(dict(pages))
        self.statuses: Mapping[str, tuple[int, ...]] = MappingProxyType(
            {u: tuple(s) for u, s in (statuses or {}).items()}
        )
        self.retry_after_s: float | None = retry_after_s

    def status_of(self, url: str, attempt: int) -> int:
        """The HTTP status that ``url``'s ``attempt`` (1-based) answers with."""
        planned = self.statuses.get(url, ())
        if attempt <= len(planned):
            return planned[attempt - 1]
        return 200 if url in self.pages else 404

    def _respond(self, url: str, max_bytes: int) -> Result[str, ErrInfo]:
        status = self.status_of(url, self.attempts[url])
        if not 200 <= status <= 299:
            ctx: dict[str, object] = {"status": status, "url": url}
            if status == 429 and self.retry_after_s is not None:
                ctx["retry_after_s"] = self.retry_after_s
            code = code_for_status(status)
            return Err(ErrInfo(code, f"HTTP {status} from {url}", self.port, (url,), ctx=ctx))
        body = self.pages.get(url, "")
        if len(body.encode("utf-8")) > max_bytes:
            return Err(
                ErrInfo(
                    codes.TOO_LARGE,
                    f"body of {url} is larger than {max_bytes} bytes",
                    self.port,
                    (url,),
                    ctx={"url": url, "max_bytes": max_bytes},
                )
            )
        return Ok(body)

    async def _get(self, url: str, max_bytes: int) -> Result[str, ErrInfo]:
        try:
            res = await self.enact([url], lambda: self._respond(url, max_bytes))
        except InjectedFault as exc:
            return Err(ErrInfo.from_exception(exc, stage=self.port, path=(url,)))
        return res if isinstance(res, Err) else res.value

    def get_text(self, url: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> AsyncPlan[str]:
        """GET ``url`` as text (one attempt of the key ``url``)."""

        async def _run() -> Result[str, ErrInfo]:
            return await self._get(url, max_bytes)

        return _run

    def get_json(self, url: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> AsyncPlan[object]:
        """GET ``url`` and parse it as JSON; invalid JSON -> SERVICE_SPECIFIC."""

        async def _run() -> Result[object, ErrInfo]:
            res = await self._get(url, max_bytes)
            if isinstance(res, Err):
                return res
            try:
                value: object = json.loads(res.value)
            except ValueError as exc:
                return Err(
                    ErrInfo.from_exception(
                        exc, code=codes.SERVICE_SPECIFIC, stage=self.port, path=(url,)
                    )
                )
            return Ok(value)

        return _run

    def stream_lines(
        self, url: str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    ) -> AsyncGen[str]:
        """The lines of ``url``: a failed request is one ``Err`` that ends the stream; a line
        over ``max_line_bytes`` is ``Err(TOO_LARGE)`` and the stream goes on."""

        async def _lines() -> AsyncIterator[Result[str, ErrInfo]]:
            res = await self._get(url, DEFAULT_MAX_BYTES)
            if isinstance(res, Err):
                yield res
                return
            for n, line in enumerate(res.value.splitlines(), start=1):
                if len(line.encode("utf-8")) > max_line_bytes:
                    yield Err(
                        ErrInfo(
                            codes.TOO_LARGE,
                            f"line {n} of {url} is larger than {max_line_bytes} bytes",
                            self.port,
                            (url,),
                            ctx={"url": url, "line": n},
                        )
                    )
                else:
                    yield Ok(line)

        return _lines
