"""The ask use case: open the store, the embedder and (when configured) the chat model; answer.

Model mode is on when ``FUNCPIPE_CHAT_URL`` is set (``ChatSettings``); otherwise the answer is
extractive (no model, no network). Laws: the answer's citations are chunks ``run_search``
returns for the same question; ``on_event`` sees every event of ``ask_events`` in order (the
deltas joined are the answer). Errors as ``pipelines.ask_events``; a bad chat URL ->
``INVALID_INPUT`` (stage ``config``).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import TypeVar

from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from funcpipe_rag.adapters import EmbedderPort
from funcpipe_rag.domain import Stage
from funcpipe_rag.domain._answer import Answer, ChatModel
from funcpipe_rag.pipelines import DEFAULT_SETTINGS
from funcpipe_rag.pipelines._ask import AskOptions
from funcpipe_rag.pipelines._ask_stream import AskCitation, AskDelta, AskDone, AskEvent, ask_events

from ._backends import open_backends
from ._settings import Settings, collection_for, url_problem
from ._space import FreeBytes, disk_free

T = TypeVar("T")


@asynccontextmanager
async def closing(it: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """``it``, closed (``aclose``, awaited) on exit, however the ``with`` ends: a consumer
    that stops early (a client that disconnects) closes the chat request at once."""
    try:
        yield it
    finally:
        if isinstance(it, AsyncGenerator):
            await it.aclose()


class ChatSettings(BaseSettings):
    """The chat model of ``ask``'s model mode (env ``FUNCPIPE_CHAT_*``): ``url`` of any
    OpenAI-compatible server (none: extractive mode), ``model``, ``api_key``, ``context`` (the
    model's context window in tokens; the prompt is kept within it), ``timeout_s``."""

    model_config = SettingsConfigDict(env_prefix="FUNCPIPE_CHAT_", extra="ignore", frozen=True)

    url: str | None = None
    model: str = "default"
    api_key: SecretStr | None = None
    context: int = Field(default=8192, ge=1024, le=10_000_000)
    timeout_s: float = Field(default=120.0, gt=0, le=3600)


def load_chat_settings() -> Result[ChatSettings, ErrInfo]:
    """Chat settings from the environment."""
    try:
        chat = ChatSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "chat"
        msg = f"invalid setting FUNCPIPE_CHAT_{where.upper()}: {first.get('msg', 'invalid')}"
        return Err(ErrInfo(codes.INVALID_INPUT, msg, stage=Stage.CONFIG))
    problem = url_problem(chat.url) if chat.url else None
    if problem is not None:
        msg = f"invalid FUNCPIPE_CHAT_URL {chat.url!r}: {problem}"
        return Err(ErrInfo(codes.INVALID_INPUT, msg, stage=Stage.CONFIG))
    return Ok(chat)


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """One TLS context for the process: building one (loading the CA store) costs ~80 ms, which
    a client per question would otherwise pay each time."""
    return ssl.create_default_context()


@asynccontextmanager
async def open_chat(chat: ChatSettings | None) -> AsyncIterator[ChatModel | None]:
    """The configured chat model (``None`` without a URL), its HTTP client closed on exit."""
    if chat is None or not chat.url:
        yield None
        return
    import httpx  # loaded only in model mode

    from funcpipe_rag.adapters._chat import OpenAIChat

    async with httpx.AsyncClient(verify=_tls()) as client:
        key = chat.api_key.get_secret_value() if chat.api_key else None
        yield OpenAIChat(
            client, base_url=chat.url, model=chat.model, api_key=key, timeout_s=chat.timeout_s
        )


async def run_ask(
    settings: Settings,
    question: str,
    options: AskOptions,
    *,
    chat: ChatSettings | None = None,
    on_event: Callable[[AskEvent], None] | None = None,
    embedder: EmbedderPort | None = None,
    free_bytes: FreeBytes = disk_free,
) -> Result[Answer, ErrInfo]:
    """Answer ``question`` from the configured collection (model mode when ``chat.url``)."""
    async with (
        open_backends(
            settings,
            collection_for(settings, DEFAULT_SETTINGS),
            embedder=embedder,
            free_bytes=free_bytes,
        ) as opened,
        open_chat(chat) as model,
    ):
        if isinstance(opened, Err):
            return opened
        b = opened.value
        events = ask_events(
            b.index,
            b.embedder,
            question,
            options,
            b.index.collection,
            chat=model,
            context=chat.context if chat else 8192,
        )
        async with closing(events()) as stream:
            async for item in stream:
                if isinstance(item, Err):
                    return item
                if on_event is not None:
                    on_event(item.value)
                if isinstance(item.value, AskDone):
                    return Ok(item.value.answer)
    msg = "the answer ended without a result"
    return Err(ErrInfo(codes.UNEXPECTED, msg, stage=Stage.CHAT))


__all__ = [
    "Answer",
    "AskCitation",
    "AskDelta",
    "AskDone",
    "AskEvent",
    "AskOptions",
    "ChatSettings",
    "closing",
    "load_chat_settings",
    "open_chat",
    "run_ask",
]
