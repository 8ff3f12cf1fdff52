"""``POST /v1/ask``: the answer as ``ask --json``, or Server-Sent Events.

SSE (``"stream": true`` or ``Accept: text/event-stream``): ``event: citation`` (a citation, as
soon as the answer first uses it), ``event: delta`` (``{"text"}``), then ``event: done`` (the
whole ``ask --json`` document plus ``timing``: ``total_ms`` and ``first_citation_ms``) or
``event: error`` (``{"code", "msg", "class", "partial"}``: the text that had arrived). A client
that disconnects closes the stream, which closes the upstream chat request. Errors before the
first event are JSON with the failure model's status (a chat server's failure is a backend's:
503; a prompt that cannot fit: 413). A question counts against the search admission bound
(past it: ``503 OVERLOADED`` + Retry-After) until its answer or stream ends.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from funcpipe.result import Err
from funcpipe.streams import AsyncGen
from pydantic import BaseModel, ConfigDict, Field

from funcpipe_rag.app import SearchOptions
from funcpipe_rag.app._ask import (
    AskCitation,
    AskDelta,
    AskDone,
    AskEvent,
    AskOptions,
    ChatSettings,
    closing,
    load_chat_settings,
)
from funcpipe_rag.app.service import Service, service_ask

from ._admission import Admission, ClientGone, overloaded, watch_disconnect
from ._errors import body, body_of, status_for

MAX_QUESTION_CHARS = 2000


class AskBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="plain words")
    k: int = Field(default=5, ge=1, le=50, description="how many chunks to answer from")
    source: list[str] = Field(default_factory=list, max_length=100)
    where: dict[str, str | list[str]] = Field(default_factory=dict)
    stream: bool = Field(default=False, description="answer as Server-Sent Events")
    extractive: bool = Field(default=False, description="never ask the model")
    verify: Literal["quotes"] | None = Field(
        default=None, description="quotes: keep only claims whose quote is in the cited chunk"
    )

    def options(self) -> AskOptions:
        """``ValueError`` for a field ``where`` cannot filter on."""
        pairs = tuple(
            (name, v)
            for name, value in self.where.items()
            for v in ([value] if isinstance(value, str) else value)
        )
        search = SearchOptions(self.k, min(self.k, 3), tuple(self.source), pairs)
        return AskOptions(search, verify_quotes=self.verify == "quotes")


def _sse(event: str, data: object) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def _whole(events: AsyncGen[AskEvent]) -> Response:
    """The JSON answer (or the error) of ``events``."""
    async with closing(events()) as stream:
        async for item in stream:
            if isinstance(item, Err):
                return JSONResponse(body_of(item.error), status_for(item.error))
            if isinstance(item.value, AskDone):
                return JSONResponse(item.value.answer.to_json())
    return JSONResponse(body("UNEXPECTED", "no answer"), status_code=500)


def mount_ask(api: FastAPI, service: Service, admission: Admission) -> None:
    """Add ``POST /v1/ask`` to ``api`` (chat settings read from the environment once). Each
    question is admitted like a search (``admission``: past its bound, ``503 OVERLOADED``);
    a JSON request whose client goes away is cancelled (``watch_disconnect``)."""
    loaded = load_chat_settings()

    @api.post("/v1/ask", summary="An answer with citations, as ask --json (or SSE)")
    async def ask(req: AskBody, request: Request) -> Response:
        try:
            options = req.options()
        except ValueError as exc:
            return JSONResponse(body("INVALID_INPUT", str(exc)), status_code=400)
        chat: ChatSettings | None = None
        if not req.extractive:
            if isinstance(loaded, Err):
                return JSONResponse(body_of(loaded.error), status_code=status_for(loaded.error))
            chat = loaded.value if loaded.value.url else None
        events = service_ask(service, req.question, options, chat)
        sse = req.stream or "text/event-stream" in request.headers.get("accept", "")
        if not admission.enter():
            return overloaded(admission)
        if sse:
            return StreamingResponse(_stream(events), media_type="text/event-stream")
        with admission.admitted():
            try:
                return await watch_disconnect(_whole(events), request.receive)
            except ClientGone:
                admission.cancelled += 1
                return Response(status_code=499)  # nobody reads it: the client is gone

    async def _stream(events: AsyncGen[AskEvent]) -> AsyncIterator[bytes]:
        with admission.admitted():  # entered by the route; left however the stream ends
            async for chunk in _sse_events(events):
                yield chunk


async def _sse_events(events: AsyncGen[AskEvent]) -> AsyncIterator[bytes]:
    """``events`` as SSE: ``citation``, ``delta``, then ``done`` (with timing) or ``error``."""
    t0 = time.perf_counter()
    first: float | None = None
    async with closing(events()) as stream:
        async for item in stream:
            if isinstance(item, Err):
                e = item.error
                yield _sse("error", {**body_of(e), "partial": e.ctx.get("partial", "")})
                return
            ev = item.value
            if isinstance(ev, AskCitation):
                if first is None:
                    first = (time.perf_counter() - t0) * 1000
                yield _sse("citation", ev.citation.to_json())
            elif isinstance(ev, AskDelta):
                yield _sse("delta", {"text": ev.text})
            elif isinstance(ev, AskDone):
                total = (time.perf_counter() - t0) * 1000
                timing = {"total_ms": round(total, 3), "first_citation_ms": first}
                yield _sse("done", {**ev.answer.to_json(), "timing": timing})
