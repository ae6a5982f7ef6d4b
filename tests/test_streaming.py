"""Streamed model calls against the loopback model server: real HTTP and SSE, real Redis for
what an endpoint accepts, nothing of ours mocked (app/model/streaming.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import redis.asyncio as aioredis

from app.model.errors import ModelError
from app.model.llm import LLM
from app.model.prompt import Prompt
from app.model.streaming import STREAM, STREAM_OPTIONS, ModelStream
from app.sandbox.openai_compat import ModelServer
from app.summaries.summary import SummaryOutput

SYSTEM = "You summarise. Reply with one JSON object."
USER = (
    "<<messages k=abcd>>\n"
    "M1 Ana: We decided to ship on Tuesday.\n"
    "M2 Bo: Can you update the changelog?\n"
    "<</messages k=abcd>>\nSummarise the conversation in the block above. Reply with JSON only."
)
PROMPT = Prompt(SYSTEM, USER)
KEY = "sk-unit-test-key-not-real"


def client(server: ModelServer, redis: aioredis.Redis | None = None, **kw: Any) -> LLM:
    return LLM(KEY, kw.pop("model", "test-model"), server.url, max_retries=0, redis=redis, **kw)


async def collect(stream: ModelStream) -> list[str]:
    return [delta async for delta in stream]


async def test_deltas_arrive_in_pieces_and_add_up_to_the_answer_with_usage() -> None:
    async with ModelServer() as server:
        stream = ModelStream(client(server), PROMPT, output=SummaryOutput)
        deltas = await collect(stream)
    assert len(deltas) > 3  # streamed, not one blob
    done = stream.completion
    assert done is not None and done.streamed and done.usage_reported
    assert "".join(deltas) == done.text == stream.partial
    assert json.loads(done.text)["decisions"][0]["sources"] == ["M1"]
    assert done.finish_reason == "stop" and done.format == "json_schema"
    assert done.tokens_in == server.requests[0].prompt_tokens and done.tokens_out > 0
    assert done.logprobs and done.first_delta_ms is not None
    body = server.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["response_format"]["type"] == "json_schema"


async def test_a_connection_dropped_midway_raises_after_what_arrived() -> None:
    async with ModelServer(stream_cut_after=3) as server:
        stream = ModelStream(client(server), PROMPT, output=SummaryOutput)
        got: list[str] = []
        with pytest.raises(ModelError) as caught:
            async for delta in stream:
                got.append(delta)
    assert caught.value.kind == "interrupted" and caught.value.code == "stream_interrupted"
    assert len(got) == 3 and stream.partial == "".join(got)
    assert stream.completion is None


async def test_an_error_event_midway_raises_after_what_arrived() -> None:
    async with ModelServer(stream_error_after=2) as server:
        stream = ModelStream(client(server), PROMPT)
        got: list[str] = []
        with pytest.raises(ModelError) as caught:
            async for delta in stream:
                got.append(delta)
    assert (caught.value.kind, caught.value.code) == ("interrupted", "stream_error")
    assert len(got) == 2


async def test_a_stream_that_stalls_past_the_timeout_is_a_timeout_after_its_deltas() -> None:
    release = asyncio.Event()  # never set while the client waits: the stream stalls
    async with ModelServer(stream_stall_after=2, stream_release=release) as server:
        stream = ModelStream(client(server), PROMPT, timeout=0.5)
        got: list[str] = []
        with pytest.raises(ModelError) as caught:
            async for delta in stream:
                got.append(delta)
    assert caught.value.kind == "timeout" and len(got) == 2


async def test_truncated_stream_is_a_typed_error_after_the_text() -> None:
    async with ModelServer(answer="truncated") as server:
        stream = ModelStream(client(server), PROMPT)
        with pytest.raises(ModelError) as caught:
            await collect(stream)
    assert caught.value.kind == "truncated" and stream.partial


async def test_reasoning_model_streams_with_its_profile() -> None:
    async with ModelServer(profile="reasoning") as server:
        stream = ModelStream(client(server, model="o4-mini"), PROMPT, output=SummaryOutput)
        await collect(stream)
    assert stream.completion is not None and stream.completion.logprobs is None
    assert stream.completion.logprobs_note == "reasoning models give no token probabilities"
    body = server.requests[-1].body
    assert "max_completion_tokens" in body and "max_tokens" not in body


async def test_unverified_organisation_gets_the_whole_answer_once_and_it_is_remembered(
    r: aioredis.Redis,
) -> None:
    async with ModelServer(profile="reasoning", stream_unverified=True) as server:
        llm = client(server, r, model="o3")
        first = ModelStream(llm, PROMPT, output=SummaryOutput)
        deltas = await collect(first)
        refused = [r for r in server.requests if r.status == 400]
        assert [r.body.get("stream") for r in refused] == [True]
        second = ModelStream(llm, PROMPT, output=SummaryOutput)
        await collect(second)
    assert len(deltas) == 1 and first.completion is not None and not first.completion.streamed
    assert json.loads(first.completion.text)["gist"]
    caps = await llm.capabilities("o3")
    assert STREAM in caps.refused
    # The second call went straight to a whole answer: no stream, no stream_options.
    last = server.requests[-1].body
    assert "stream" not in last and "stream_options" not in last
    assert len(server.requests) == 3


async def test_stream_options_without_stream_is_refused_like_openai() -> None:
    from openai import AsyncOpenAI, BadRequestError

    async with ModelServer() as server:
        sdk = AsyncOpenAI(api_key=KEY, base_url=server.url, max_retries=0)
        with pytest.raises(BadRequestError) as caught:
            await sdk.chat.completions.create(
                model="test-model",
                messages=[{"role": "user", "content": "hi"}],
                stream_options={"include_usage": True},
            )
    assert caught.value.param == STREAM_OPTIONS


async def test_server_errors_before_the_stream_are_typed() -> None:
    async with ModelServer() as server:
        server.fail_next(status=429)
        with pytest.raises(ModelError) as caught:
            await collect(ModelStream(client(server), PROMPT))
    assert caught.value.kind == "rate_limited"
