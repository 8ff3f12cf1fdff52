"""ask as a stream of events: text deltas, citations as soon as their marker completes, then
the whole answer. Extractive or by a chat model.

Laws: the concatenated ``AskDelta`` texts equal the final ``Answer.answer``; the ``AskCitation``
events are the final answer's citations, in order, each sent before any delta that uses it is
complete and exactly once; every citation is a chunk that was in the prompt. Model mode refuses
without calling the model when no retrieved sentence reaches the relevance floor. Errors: as
``ask``, plus the chat port's; a stream cut mid-answer is an ``Err`` after the deltas that
arrived, ``ctx["partial"]`` holding their text. An overflowing prompt is shrunk (the
lower-ranked half of its chunks left out) and sent once more. Cancellation: closing the stream
closes the chat request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypeAlias

from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen

from funcpipe_rag.domain import Embedder, SearchHit, Stage, VectorIndex
from funcpipe_rag.domain._answer import (
    ANSWER_RESERVE,
    MODE_MODEL,
    Answer,
    ChatEnd,
    ChatModel,
    Citation,
    MarkerState,
    Prompt,
    build_prompt,
    candidates,
    feed,
    finish,
    is_overflow,
    refusal,
    relevance,
    server_truncated,
    start,
    verify_quotes,
)

from ._ask import AskOptions, answer_from, retrieve
from ._types import STAGE_EMBED

STAGE_CHAT = Stage.CHAT


@dataclass(frozen=True, slots=True)
class AskDelta:
    """A piece of the answer's text."""

    text: str


@dataclass(frozen=True, slots=True)
class AskCitation:
    """A citation, sent as soon as the answer first uses it."""

    citation: Citation


@dataclass(frozen=True, slots=True)
class AskDone:
    """The whole answer (its text is the deltas joined)."""

    answer: Answer


AskEvent: TypeAlias = AskDelta | AskCitation | AskDone


def _at(e: ErrInfo, stage: str, **ctx: object) -> Err[ErrInfo]:
    return Err(ErrInfo(e.code, e.msg, e.stage or stage, e.path, e.cause, {**e.ctx, **ctx}))


async def _relevant(
    embedder: Embedder, question: str, hits: list[SearchHit]
) -> Result[float, ErrInfo]:
    """The best sentence relevance of ``hits`` (as the extractive answer scores them)."""
    cands = candidates(hits)
    if not cands:
        return Ok(float("-inf"))
    got = await embedder.embed([question, *(c.text for c in cands)])()
    if isinstance(got, Err):
        return _at(got.error, STAGE_EMBED)
    q, *vectors = got.value
    return Ok(max(relevance(question, cands, q, vectors)))


def _extractive_events(answer: Answer) -> list[AskEvent]:
    out: list[AskEvent] = [AskCitation(c) for c in answer.citations]
    if answer.answer:
        out.append(AskDelta(answer.answer))
    return [*out, AskDone(answer)]


def ask_events(
    index: VectorIndex,
    embedder: Embedder,
    question: str,
    options: AskOptions,
    collection: str = "funcpipe",
    *,
    chat: ChatModel | None = None,
    context: int = 8192,
) -> AsyncGen[AskEvent]:
    """The events of answering ``question``: extractive without ``chat``, else by the model
    with a prompt that fits ``context`` tokens."""

    async def _events() -> AsyncIterator[Result[AskEvent, ErrInfo]]:
        hits = await retrieve(index, embedder, question, options, collection)()
        if isinstance(hits, Err):
            yield hits
            return
        if chat is None:
            got = await answer_from(embedder, question, hits.value, options)()
            if isinstance(got, Err):
                yield got
                return
            for event in _extractive_events(got.value):
                yield Ok(event)
            return
        best = await _relevant(embedder, question, hits.value[: options.from_top])
        if isinstance(best, Err):
            yield best
            return
        if best.value < options.floor:
            shown = max(best.value, 0.0)
            why = (
                f"no retrieved passage is relevant enough (best {shown:.2f} < floor "
                f"{options.floor:.2f}); the model was not asked"
            )
            yield Ok(AskDone(refusal(why, MODE_MODEL, chat.model)))
            return
        prompt = build_prompt(question, hits.value, context, quotes=options.verify_quotes)
        async for item in _model_events(chat, question, prompt):
            yield item

    return _events


def _rewritten(
    state: MarkerState, by_id: dict[str, SearchHit], piece: str
) -> tuple[MarkerState, list[AskEvent]]:
    """Feed ``piece`` to the marker fold: the citations it completes, then its text."""
    before = len(state.used)
    state, out = feed(state, piece)
    events: list[AskEvent] = [
        AskCitation(Citation(n + 1, by_id[state.used[n]])) for n in range(before, len(state.used))
    ]
    return state, [*events, AskDelta(out)] if out else events


async def _model_events(
    chat: ChatModel, question: str, prompt: Prompt
) -> AsyncIterator[Result[AskEvent, ErrInfo]]:
    for attempt in (1, 2):
        state = start(prompt.ids)
        by_id = dict(zip(prompt.ids, prompt.hits, strict=True))
        raw: list[str] = []
        end: ChatEnd | None = None
        async for item in chat.stream(prompt.messages, ANSWER_RESERVE)():
            if isinstance(item, Err):
                if attempt == 1 and not raw and is_overflow(item.error):
                    break
                partial = "".join(raw) if prompt.quotes else state.emitted
                yield _at(item.error, STAGE_CHAT, partial=partial)
                return
            event = item.value
            if isinstance(event, ChatEnd):
                end = event
                break
            raw.append(event.text)
            if not prompt.quotes:
                state, events = _rewritten(state, by_id, event.text)
                for ev in events:
                    yield Ok(ev)
        if end is None and attempt == 1:
            prompt = prompt.shrunk(question)
            continue
        if end is None:
            msg = "the shrunk prompt still exceeds the model's context"
            yield Err(ErrInfo(codes.TOO_LARGE, msg, STAGE_CHAT, ctx={"context_overflow": True}))
            return
        removed: int | None = None
        if prompt.quotes:
            texts = {i: h.text for i, h in by_id.items()}
            kept, removed = verify_quotes("".join(raw), texts)
            state, events = _rewritten(state, by_id, kept)
            for ev in events:
                yield Ok(ev)
        state, tail = finish(state)
        if tail:
            yield Ok(AskDelta(tail))
        yield Ok(AskDone(_answer(chat, prompt, state, end, removed)))
        return


def _answer(
    chat: ChatModel, prompt: Prompt, state: MarkerState, end: ChatEnd, removed: int | None
) -> Answer:
    """The final answer: the text is rebuilt from the raw answer's markers, as streamed."""
    by_id = dict(zip(prompt.ids, prompt.hits, strict=True))
    cites = tuple(Citation(n, by_id[i]) for n, i in enumerate(state.used, 1))
    usage = end.usage
    return Answer(
        state.emitted,
        bool(cites),
        cites,
        MODE_MODEL,
        end.model or chat.model,
        usage,
        server_truncated(prompt, usage.prompt_tokens if usage else None),
        state.dropped,
        "" if cites else "the model's answer cites none of the retrieved passages",
        claims_removed=removed,
    )
