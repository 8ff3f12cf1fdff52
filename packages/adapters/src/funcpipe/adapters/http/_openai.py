"""OpenAIEmbeddings: a client for OpenAI-compatible ``POST /v1/embeddings`` endpoints."""

from __future__ import annotations

import base64
import binascii
import json
import math
import sys
from array import array
from collections.abc import Sequence
from typing import Literal

import httpx
from funcpipe.adapters.embedders import check_texts
from funcpipe.async_plan import AsyncPlan
from funcpipe.result import Err, ErrInfo, Ok, Result, codes

from ._errors import check_url, error_for_exception, error_for_response, safe_url

EncodingFormat = Literal["float", "base64"]


def embeddings_url(base_url: str) -> str:
    """``{base_url}/v1/embeddings``; a base URL that already ends in ``/v1`` is accepted."""
    base = base_url.rstrip("/")
    if base.endswith("/v1"):
        base = base[: -len("/v1")]
    return f"{base}/v1/embeddings"


def _malformed(url: str, why: str, **ctx: object) -> Err[ErrInfo]:
    return Err(
        ErrInfo(
            codes.SERVICE_SPECIFIC,
            f"malformed embeddings response from {url}: {why}",
            ctx={"url": url, **ctx},
        )
    )


def _decode_vector(raw: object, fmt: EncodingFormat) -> list[float] | None:
    if fmt == "base64" and isinstance(raw, str):
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(data) % 4:
            return None
        arr = array("f")
        arr.frombytes(data)
        if sys.byteorder == "big":  # pragma: no cover
            arr.byteswap()
        vec = arr.tolist()
    elif isinstance(raw, list):
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in raw):
            return None
        vec = [float(x) for x in raw]
    else:
        return None
    return vec if all(math.isfinite(x) for x in vec) else None


class OpenAIEmbeddings:
    """An ``Embedder`` over an OpenAI-compatible embeddings API (the shell owns ``client``).

    - Texts are sent in batches of at most ``batch_size`` texts and ``max_batch_chars``
      characters, one request at a time, to ``{base_url}/v1/embeddings``.
    - Response validation: one item per input, ``index`` values a permutation of the batch
      (items are reordered by index), one consistent dimension (``dimensions`` when configured,
      also sent in the request), every value finite. Anything malformed -> SERVICE_SPECIFIC.
    - Errors: 429 -> RATE_LIMIT with ``ctx["retry_after_s"]`` from Retry-After (seconds or an
      HTTP date); a 429 whose error type/code is ``insufficient_quota`` -> QUOTA_EXHAUSTED
      (not retriable); 401/403 -> AUTH; 5xx -> TRANSIENT; 400/413/422 -> INVALID_INPUT; timeout
      -> TIMEOUT; connection failures and dropped connections -> NETWORK; a bad ``base_url``
      -> INVALID_INPUT (nothing is sent). ``embed`` never raises, whatever the input. ``ctx`` holds
      ``status``, ``server_message``, ``url`` (never the API key) and ``batch`` (its index).
    - ``dimension`` is the configured ``dimensions``, else the one learned from the first
      successful response (0 until then; ``probe_dimension()`` learns it).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        dimensions: int | None = None,
        encoding_format: EncodingFormat = "float",
        timeout_s: float = 30.0,
        batch_size: int = 64,
        max_batch_chars: int = 200_000,
    ) -> None:
        if not model:
            raise ValueError("OpenAIEmbeddings: model must be non-empty")
        if dimensions is not None and dimensions < 1:
            raise ValueError(f"OpenAIEmbeddings: dimensions must be >= 1, got {dimensions}")
        if encoding_format not in ("float", "base64"):
            raise ValueError(f"OpenAIEmbeddings: unknown encoding_format {encoding_format!r}")
        if timeout_s <= 0 or batch_size < 1 or max_batch_chars < 1:
            raise ValueError("OpenAIEmbeddings: timeout_s, batch_size, max_batch_chars must be > 0")
        self._client = client
        self._url = embeddings_url(base_url)
        self._model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._dimensions = dimensions
        self._learned_dim = dimensions or 0
        self._format: EncodingFormat = encoding_format
        self._timeout = httpx.Timeout(timeout_s)
        self._batch_size = batch_size
        self._max_batch_chars = max_batch_chars

    @property
    def model_id(self) -> str:
        """The model name sent in requests."""
        return self._model

    @property
    def dimension(self) -> int:
        """Configured or learned vector length (0 while unknown)."""
        return self._learned_dim

    @property
    def url(self) -> str:
        """The embeddings endpoint URL."""
        return self._url

    def _batches(self, texts: list[str]) -> list[list[str]]:
        batches: list[list[str]] = []
        cur: list[str] = []
        chars = 0
        for t in texts:
            if cur and (len(cur) >= self._batch_size or chars + len(t) > self._max_batch_chars):
                batches.append(cur)
                cur, chars = [], 0
            cur.append(t)
            chars += len(t)
        if cur:
            batches.append(cur)
        return batches

    async def _post(self, batch: list[str]) -> Result[list[list[float]], ErrInfo]:
        url = safe_url(self._url)
        body: dict[str, object] = {
            "model": self._model,
            "input": batch,
            "encoding_format": self._format,
        }
        if self._dimensions is not None:
            body["dimensions"] = self._dimensions
        checked = check_url(self._url)
        if isinstance(checked, Err):
            return checked
        try:
            resp = await self._client.post(
                checked.value, json=body, headers=self._headers, timeout=self._timeout
            )
        except Exception as exc:  # an adapter never raises; CancelledError propagates
            return Err(error_for_exception(exc, self._url))
        if not resp.is_success:
            return Err(error_for_response(resp.status_code, resp.headers, resp.content, self._url))
        try:
            doc = json.loads(resp.content)
        except ValueError as exc:
            return _malformed(url, f"invalid JSON ({exc})", status=resp.status_code)
        data = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(data, list):
            return _malformed(url, 'no "data" list')
        if len(data) != len(batch):
            return _malformed(
                url, f"{len(data)} embeddings for {len(batch)} inputs", expected=len(batch)
            )
        vectors: list[list[float] | None] = [None] * len(batch)
        for pos, item in enumerate(data):
            if not isinstance(item, dict):
                return _malformed(url, f"item {pos} is not an object")
            index = item.get("index", pos)
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(batch):
                return _malformed(url, f"item {pos} has bad index {index!r}")
            if vectors[index] is not None:
                return _malformed(url, f"duplicate index {index}")
            vec = _decode_vector(item.get("embedding"), self._format)
            if vec is None or not vec:
                return _malformed(url, f"item {pos}: embedding is not a {self._format} vector")
            vectors[index] = vec
        out = [v for v in vectors if v is not None]
        dims = {len(v) for v in out}
        expected = self._learned_dim
        if len(dims) != 1 or (expected and dims != {expected}):
            return _malformed(
                url,
                f"vector dimensions {sorted(dims)}, expected {expected or 'one consistent'}",
                expected_dim=expected,
            )
        return Ok(out)

    def embed(self, texts: Sequence[str]) -> AsyncPlan[list[list[float]]]:
        """Embed ``texts`` (see the class docstring for batching, validation and errors)."""
        frozen = tuple(texts)

        async def _run() -> Result[list[list[float]], ErrInfo]:
            checked = check_texts(frozen)
            if isinstance(checked, Err):
                return checked
            out: list[list[float]] = []
            for i, batch in enumerate(self._batches(checked.value)):
                res = await self._post(batch)
                if isinstance(res, Err):
                    return Err(res.error.with_ctx(batch=i, offset=len(out)))
                if not self._learned_dim:
                    self._learned_dim = len(res.value[0])
                out.extend(res.value)
            return Ok(out)

        return _run

    def probe_dimension(self) -> AsyncPlan[int]:
        """Embed one short text and return (and remember) the vector length."""

        async def _run() -> Result[int, ErrInfo]:
            res = await self.embed(["dimension probe"])()
            if isinstance(res, Err):
                return res
            return Ok(len(res.value[0]))

        return _run
