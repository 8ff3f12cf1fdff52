"""The ask use case on a server's open backends (``POST /v1/ask``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from funcpipe.result import ErrInfo, Result
from funcpipe.streams import AsyncGen

from funcpipe_rag.app._ask import AskEvent, AskOptions, ChatSettings, closing, open_chat
from funcpipe_rag.pipelines._ask_stream import ask_events

from ._service import Service


def service_ask(
    service: Service, question: str, options: AskOptions, chat: ChatSettings | None
) -> AsyncGen[AskEvent]:
    """The events of answering ``question`` on a server's open backends (model mode when
    ``chat.url``; a chat client is opened per question and closed when the stream ends or is
    closed, which cancels the upstream request)."""

    async def _events() -> AsyncIterator[Result[AskEvent, ErrInfo]]:
        b = service.backends
        async with open_chat(chat) as model:
            events = ask_events(
                b.index,
                b.embedder,
                question,
                options,
                service.collection,
                chat=model,
                context=chat.context if chat else 8192,
            )
            async with closing(events()) as stream:
                async for item in stream:
                    yield item

    return _events
