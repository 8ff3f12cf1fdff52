"""OpenAIEmbeddings against every injected fault of the loopback server: each maps to its code."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from funcpipe.adapters.http import OpenAIEmbeddings, embeddings_url
from funcpipe.adapters.runtime import perform_async
from funcpipe.result import Err, ErrInfo, Ok, codes
from funcpipe.testing.embeddings_server import EmbeddingsServer, ErrorShape, Fault


def _toy(texts: list[str]) -> list[list[float]]:
    return [[float(len(t)), 1.0, 0.5, 0.25] for t in texts]


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddingsServer]:
    with EmbeddingsServer(_toy, api_key="sk-secret") as srv:
        yield srv


async def _embed_err(
    server: EmbeddingsServer,
    fault: Fault | None,
    *,
    fmt: str = "float",
    key: str = "sk-secret",
    timeout_s: float = 5.0,
    texts: list[str] | None = None,
) -> ErrInfo:
    if fault is not None:
        server.push(fault)
    async with httpx.AsyncClient() as client:
        emb = OpenAIEmbeddings(
            client,
            base_url=server.base_url,
            model="m",
            api_key=key,
            encoding_format="base64" if fmt == "base64" else "float",
            timeout_s=timeout_s,
        )
        res = await perform_async(emb.embed(texts or ["alpha", "beta", "gamma"]))
    assert server.pending_faults() == 0
    assert isinstance(res, Err), res
    assert "sk-secret" not in repr(res.error.ctx)
    assert "sk-secret" not in res.error.msg
    return res.error


FAULTS: list[tuple[str, Fault, str]] = [
    ("429 no Retry-After", Fault.rate_limited(), codes.RATE_LIMIT),
    ("quota 429", Fault.quota_exhausted(), codes.QUOTA_EXHAUSTED),
    ("500", Fault.status_error(500), codes.TRANSIENT),
    ("503", Fault.status_error(503, shape="text"), codes.TRANSIENT),
    ("401", Fault.status_error(401, error_type="invalid_api_key"), codes.AUTH),
    ("403", Fault.status_error(403, shape="message"), codes.AUTH),
    ("400", Fault.status_error(400, shape="detail"), codes.INVALID_INPUT),
    ("413", Fault.status_error(413, shape="string"), codes.INVALID_INPUT),
    ("422", Fault.status_error(422, shape="detail"), codes.INVALID_INPUT),
    ("dropped connection", Fault.drop(), codes.NETWORK),
    ("malformed JSON", Fault.malformed_json(), codes.SERVICE_SPECIFIC),
    ("wrong count", Fault.wrong_count(), codes.SERVICE_SPECIFIC),
    ("wrong dimension", Fault.wrong_dimension(), codes.SERVICE_SPECIFIC),
    ("garbage vector", Fault.bad_vector(), codes.SERVICE_SPECIFIC),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("name", "fault", "code"), FAULTS, ids=[f[0] for f in FAULTS])
async def test_fault_maps_to_code(
    server: EmbeddingsServer, name: str, fault: Fault, code: str
) -> None:
    err = await _embed_err(server, fault)
    assert err.code == code, name
    assert err.ctx["url"] == server.base_url + "/v1/embeddings"
    if fault.kind == "reply":
        assert err.ctx["status"] == fault.status
        assert str(err.ctx["server_message"]).startswith(("injected", "Rate", "You exceeded"))


@pytest.mark.asyncio
@pytest.mark.parametrize("shape", ["openai", "string", "detail", "message", "text"])
async def test_each_error_body_shape_reaches_ctx(
    server: EmbeddingsServer, shape: ErrorShape
) -> None:
    err = await _embed_err(
        server, Fault.status_error(400, shape=shape, message=f"bad {shape} input")
    )
    assert err.code == codes.INVALID_INPUT
    assert err.ctx["server_message"] == f"bad {shape} input"
    assert f"bad {shape} input" in err.msg


@pytest.mark.asyncio
async def test_retry_after_seconds_and_http_date_reach_ctx(server: EmbeddingsServer) -> None:
    err = await _embed_err(server, Fault.rate_limited(retry_after=7))
    assert err.code == codes.RATE_LIMIT
    assert err.ctx["retry_after_s"] == 7.0
    err = await _embed_err(server, Fault.rate_limited(retry_after=42, http_date=True))
    assert err.code == codes.RATE_LIMIT
    assert err.ctx["retry_after_s"] == 42.0
    err = await _embed_err(server, Fault.quota_exhausted())
    assert err.code == codes.QUOTA_EXHAUSTED
    assert err.code not in {codes.TRANSIENT, codes.TIMEOUT, codes.RATE_LIMIT}  # not retriable


@pytest.mark.asyncio
async def test_slow_response_past_timeout_is_timeout(server: EmbeddingsServer) -> None:
    err = await _embed_err(server, Fault.slow(3.0), timeout_s=0.2)
    assert err.code == codes.TIMEOUT


@pytest.mark.asyncio
async def test_real_server_side_errors(server: EmbeddingsServer) -> None:
    err = await _embed_err(server, None, key="sk-wrong")
    assert err.code == codes.AUTH
    assert err.ctx["server_message"] == "Incorrect API key provided"
    async with httpx.AsyncClient() as client:
        emb = OpenAIEmbeddings(client, base_url="http://127.0.0.1:9/", model="m", timeout_s=2)
        res = await perform_async(emb.embed(["a"]))
    assert isinstance(res, Err)
    assert res.error.code == codes.NETWORK


@pytest.mark.asyncio
@pytest.mark.parametrize("fmt", ["float", "base64"])
async def test_shuffled_indexes_are_reordered(server: EmbeddingsServer, fmt: str) -> None:
    texts = ["a", "bb", "ccc", "dddd"]
    server.push(Fault.shuffled())
    async with httpx.AsyncClient() as client:
        emb = OpenAIEmbeddings(
            client,
            base_url=server.base_url,
            model="m",
            api_key="sk-secret",
            encoding_format="base64" if fmt == "base64" else "float",
        )
        res = await perform_async(emb.embed(texts))
    assert res == Ok(_toy(texts))
    assert emb.dimension == 4  # learned from the first response


@pytest.mark.asyncio
async def test_batching_and_error_position(server: EmbeddingsServer) -> None:
    texts = [f"text {i}" for i in range(7)]
    async with httpx.AsyncClient() as client:
        emb = OpenAIEmbeddings(
            client, base_url=server.base_url, model="m", api_key="sk-secret", batch_size=3
        )
        start = len(server.requests)
        assert await perform_async(emb.embed(texts)) == Ok(_toy(texts))
        sizes = [len(r["input"]) for r in server.requests[start:]]  # type: ignore[index]
        assert sizes == [3, 3, 1]
        # second batch fails: ctx says which batch and how many vectors were done
        server.push(Fault.shuffled(), Fault.status_error(503))
        res = await perform_async(emb.embed(texts))
        assert isinstance(res, Err)
        assert (res.error.ctx["batch"], res.error.ctx["offset"]) == (1, 3)
        # a learned dimension is enforced on later calls
        server.push(Fault.wrong_dimension())
        res = await perform_async(emb.embed(["solo"]))
        assert isinstance(res, Err)
        assert res.error.code == codes.SERVICE_SPECIFIC


def test_url_and_constructor_validation() -> None:
    assert embeddings_url("http://h:1") == "http://h:1/v1/embeddings"
    assert embeddings_url("http://h:1/v1/") == "http://h:1/v1/embeddings"
    client = httpx.AsyncClient()
    with pytest.raises(ValueError):
        OpenAIEmbeddings(client, base_url="http://h", model="")
    with pytest.raises(ValueError):
        OpenAIEmbeddings(client, base_url="http://h", model="m", dimensions=0)
