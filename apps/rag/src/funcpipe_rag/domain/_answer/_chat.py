"""The chat port: a model that streams an answer to messages, as the ask pipeline needs it.

A stream yields ``Ok(ChatDelta)`` items (answer text only: reasoning never appears), then one
``Ok(ChatEnd)``; an ``Err`` ends it (what was yielded before it stays valid). Errors: a prompt
longer than the model's context -> ``TOO_LARGE`` with ``ctx["context_overflow"] = True``
(before any delta); a stream cut mid-answer -> ``NETWORK``; the rest as the HTTP adapters map
them (RATE_LIMIT, TRANSIENT, TIMEOUT, AUTH, ...), after the adapter's retries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from funcpipe.result import ErrInfo, codes
from funcpipe.streams import AsyncGen

from ._types import Usage


@dataclass(frozen=True, slots=True)
class ChatDelta:
    """A piece of the answer's text."""

    text: str


@dataclass(frozen=True, slots=True)
class ChatEnd:
    """The end of an answer: usage as reported (``None``: not reported), why it stopped."""

    usage: Usage | None
    finish_reason: str | None = None
    model: str | None = None


ChatEvent: TypeAlias = ChatDelta | ChatEnd


class ChatModel(Protocol):
    """An OpenAI-compatible chat model."""

    @property
    def model(self) -> str: ...

    def stream(
        self, messages: Sequence[Mapping[str, str]], max_tokens: int
    ) -> AsyncGen[ChatEvent]: ...


def is_overflow(e: ErrInfo) -> bool:
    """Whether ``e`` says the prompt did not fit the model's context."""
    return e.code == codes.TOO_LARGE and e.ctx.get("context_overflow") is True
