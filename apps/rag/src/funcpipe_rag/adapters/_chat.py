"""OpenAIChat: the chat port over any OpenAI-compatible ``POST /v1/chat/completions``.

Always streams (``stream: true``, ``stream_options.include_usage``). Opening the stream (the
request up to the response headers) is retried by ``retry`` (RetryPolicy: 429 with its
Retry-After, 5xx, timeouts and dropped connections; never after a delta has arrived) through
``async_with_resilience``; ``timeout_s`` bounds the connect and every read. Parsing is lenient:
blank lines, comments (``:``), ``event:``/``id:``/``retry:`` fields, lines that are not JSON,
chunks without ``choices`` or ``delta``, missing (TGI) or null fields are all skipped;
``reasoning``/``reasoning_content`` deltas are dropped; ``usage`` is read from whichever chunk
carries it (usually the last; none: unknown). A stream that ends before ``[DONE]`` or a
``finish_reason`` is cut: ``Err(NETWORK)``, after the deltas that arrived. llama.cpp's
``exceed_context_size_error`` (and vLLM's "maximum context length") -> ``TOO_LARGE`` with
``ctx["context_overflow"]``. Never raises; cancelling the consumer closes the response, so the
server sees the client go.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence

import httpx
from funcpipe.adapters.http import check_url, error_for_exception, error_for_response, safe_url
from funcpipe.async_plan import async_with_resilience
from funcpipe.policies import ResilienceEnv, RetryPolicy
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.streams import AsyncGen

from funcpipe_rag.domain._answer import ChatDelta, ChatEnd, ChatEvent, Usage

CHAT_RETRY = RetryPolicy(
    max_attempts=4,
    retriable_codes=frozenset({codes.TRANSIENT, codes.TIMEOUT, codes.RATE_LIMIT, codes.NETWORK}),
    backoff_base_ms=250,
    max_backoff_ms=20_000,
)


def chat_url(base_url: str) -> str:
    """``{base_url}/v1/chat/completions``; a base URL already ending in ``/v1`` is accepted."""
    base = base_url.rstrip("/")
    base = base[: -len("/v1")] if base.endswith("/v1") else base
    return f"{base}/v1/chat/completions"


def _overflow(status: int, body: bytes, url: str) -> ErrInfo | None:
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    err = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(err, dict):
        return None
    kind, msg = str(err.get("type") or ""), str(err.get("message") or "")
    if kind != "exceed_context_size_error" and "maximum context length" not in msg:
        return None
    ctx: dict[str, object] = {"context_overflow": True, "status": status, "url": safe_url(url)}
    for key in ("n_prompt_tokens", "n_ctx"):
        if isinstance(err.get(key), int):
            ctx[key] = err[key]
    return ErrInfo(codes.TOO_LARGE, f"the prompt exceeds the model's context: {msg}", ctx=ctx)


def _usage(raw: object) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    p, c = raw.get("prompt_tokens"), raw.get("completion_tokens")
    if isinstance(p, int) and not isinstance(p, bool):
        return Usage(p, c if isinstance(c, int) and not isinstance(c, bool) else 0)
    return None


def parse_chunk(data: str) -> tuple[str, str | None, Usage | None, str | None] | None:
    """One SSE ``data`` payload -> ``(content, finish_reason, usage, model)``; ``None`` for
    a payload that is not a JSON object. Reasoning fields are ignored."""
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    text, finish = "", None
    choices = doc.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
        delta = choice.get("delta") or choice.get("message")
        if isinstance(delta, dict) and isinstance(delta.get("content"), str):
            text = delta["content"]
        fr = choice.get("finish_reason")
        finish = fr if isinstance(fr, str) else None
    model = doc.get("model")
    return text, finish, _usage(doc.get("usage")), model if isinstance(model, str) else None


class OpenAIChat:
    """A ``ChatModel`` over an OpenAI-compatible server (the shell owns ``client``)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        retry: RetryPolicy = CHAT_RETRY,
        env: ResilienceEnv | None = None,
    ) -> None:
        self._client = client
        self._url = chat_url(base_url)
        self._model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = httpx.Timeout(timeout_s)
        self._retry = retry
        self._env = env

    @property
    def model(self) -> str:
        return self._model

    async def _open(self, body: Mapping[str, object]) -> Result[httpx.Response, ErrInfo]:
        checked = check_url(self._url)
        if isinstance(checked, Err):
            return checked
        try:
            request = self._client.build_request(
                "POST", checked.value, json=dict(body), headers=self._headers, timeout=self._timeout
            )
            resp = await self._client.send(request, stream=True)
        except Exception as exc:  # an adapter never raises; CancelledError propagates
            return Err(error_for_exception(exc, self._url))
        if resp.is_success:
            return Ok(resp)
        try:
            raw = await resp.aread()
        except Exception as exc:
            return Err(error_for_exception(exc, self._url))
        finally:
            await resp.aclose()
        over = _overflow(resp.status_code, raw, self._url)
        return Err(over or error_for_response(resp.status_code, resp.headers, raw, self._url))

    def stream(self, messages: Sequence[Mapping[str, str]], max_tokens: int) -> AsyncGen[ChatEvent]:
        body = {
            "model": self._model,
            "messages": [dict(m) for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": max_tokens,
            "temperature": 0,
        }

        async def _events() -> AsyncIterator[Result[ChatEvent, ErrInfo]]:
            opened = await async_with_resilience(
                lambda: self._open(body), self._retry, None, self._env
            )()
            if isinstance(opened, Err):
                yield opened
                return
            resp = opened.value
            usage: Usage | None = None
            finish: str | None = None
            model: str | None = None
            done = False
            try:
                async for line in resp.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        break
                    parsed = parse_chunk(data)
                    if parsed is None:
                        continue
                    text, fr, u, m = parsed
                    usage, finish, model = u or usage, fr or finish, m or model
                    if text:
                        yield Ok(ChatDelta(text))
            except Exception as exc:  # a dropped stream; CancelledError propagates
                e = error_for_exception(exc, self._url)
                yield Err(ErrInfo(codes.NETWORK, f"the answer stream was cut: {e.msg}", ctx=e.ctx))
                return
            finally:
                await resp.aclose()
            if not done and finish is None:
                msg = f"the answer stream from {safe_url(self._url)} was cut before its end"
                yield Err(ErrInfo(codes.NETWORK, msg, ctx={"url": safe_url(self._url)}))
                return
            yield Ok(ChatEnd(usage, finish, model))

        return _events
