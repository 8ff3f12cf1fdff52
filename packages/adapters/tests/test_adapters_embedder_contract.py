"""One Embedder contract suite (the ``funcpipe.ports.Embedder`` port): StaticEmbedder,
OpenAIEmbeddings (float and base64) talking to the loopback embeddings server backed by the
same static model, and funcpipe.testing's FakeEmbedder. What only a real model has (unit
length, meaning, the static model's vectors) is checked on the real ones."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from funcpipe.adapters.embed import StaticEmbedder
from funcpipe.adapters.embedders import Embedder
from funcpipe.adapters.http import EncodingFormat, OpenAIEmbeddings
from funcpipe.adapters.runtime import perform_async
from funcpipe.result import Err, Ok, codes
from funcpipe.testing import FakeEmbedder
from funcpipe.testing.embeddings_server import EmbeddingsServer

TEXTS = [
    "the cat sleeps on the mat",
    "a kitten naps",
    "stock market rally lifts shares",
    "Ünïcödé tëxt — 日本語のテキスト 🚀",
    "x" * 3000,
]

_STATIC = StaticEmbedder()


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddingsServer]:
    with EmbeddingsServer(_STATIC.embed_sync, api_key="sk-test") as srv:
        yield srv


@pytest_asyncio.fixture(params=["static", "openai-float", "openai-base64", "fake"])
async def embedder(
    request: pytest.FixtureRequest, server: EmbeddingsServer
) -> AsyncIterator[Embedder]:
    if request.param == "static":
        yield _STATIC
        return
    if request.param == "fake":
        yield FakeEmbedder(dim=256)
        return
    fmt: EncodingFormat = "float" if request.param == "openai-float" else "base64"
    async with httpx.AsyncClient() as client:
        yield OpenAIEmbeddings(
            client,
            base_url=server.base_url + "/v1",
            model="wordllama",
            api_key="sk-test",
            dimensions=256,
            encoding_format=fmt,
            batch_size=2,  # force several batches
        )


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@pytest.mark.asyncio
async def test_embed_shape_order_determinism(embedder: Embedder) -> None:
    assert isinstance(embedder, Embedder)
    assert embedder.dimension == 256
    assert embedder.model_id
    plan = embedder.embed(TEXTS)
    first = await perform_async(plan)
    assert isinstance(first, Ok)
    vecs = first.value
    assert len(vecs) == len(TEXTS)
    for v in vecs:
        assert len(v) == embedder.dimension
        assert all(math.isfinite(x) for x in v)
    # replayable and deterministic; order follows input (reversed input -> reversed output)
    again = await perform_async(plan)
    assert isinstance(again, Ok)
    assert all(
        abs(a - b) < 1e-6
        for va, vb in zip(vecs, again.value, strict=True)
        for a, b in zip(va, vb, strict=True)
    )
    rev = await perform_async(embedder.embed(TEXTS[::-1]))
    assert isinstance(rev, Ok)
    assert all(
        max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-5
        for a, b in zip(vecs[::-1], rev.value, strict=True)
    )


@pytest.mark.asyncio
async def test_a_real_model_gives_unit_vectors_with_meaning(embedder: Embedder) -> None:
    if isinstance(embedder, FakeEmbedder):
        pytest.skip("the fake's vectors are digests: no length or meaning to check")
    vecs = (await perform_async(embedder.embed(TEXTS))).unwrap()
    for v in vecs:
        assert abs(math.sqrt(_cos(v, v)) - 1.0) < 1e-4  # unit length
    # meaning: related texts are closer than unrelated ones
    assert _cos(vecs[0], vecs[1]) > _cos(vecs[0], vecs[2])


@pytest.mark.asyncio
async def test_embed_same_vectors_as_static(embedder: Embedder) -> None:
    if isinstance(embedder, FakeEmbedder):
        pytest.skip("the fake has no model")
    res = await perform_async(embedder.embed(TEXTS[:3]))
    expected = _STATIC.embed_sync(TEXTS[:3])
    assert isinstance(res, Ok)
    for a, b in zip(res.value, expected, strict=True):
        assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-5


@pytest.mark.asyncio
async def test_empty_inputs(embedder: Embedder) -> None:
    assert await perform_async(embedder.embed([])) == Ok([])
    for bad in (["ok", ""], ["ok", "  \n\t"]):
        res = await perform_async(embedder.embed(bad))
        assert isinstance(res, Err)
        assert res.error.code == codes.EMPTY_INPUT
        assert res.error.ctx["index"] == 1
    res = await perform_async(embedder.embed(["ok", 3]))  # type: ignore[list-item]
    assert isinstance(res, Err)
    assert res.error.code == codes.INVALID_INPUT


def test_building_a_plan_does_nothing(server: EmbeddingsServer) -> None:
    before = len(server.requests)
    client = httpx.AsyncClient()
    OpenAIEmbeddings(client, base_url=server.base_url, model="m").embed(["a"])
    fresh = StaticEmbedder()
    fresh.embed(["a"])
    fake = FakeEmbedder()
    fake.embed(["a"])
    assert len(server.requests) == before
    assert fresh._model is None  # lazy: nothing loaded yet
    assert fake.calls == []
