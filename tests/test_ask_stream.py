"""`ask_stream`, the streamed form of `ask` the agent pane calls: against the running app's
services (the strict sandbox, real Redis), the loopback model streaming SSE."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.ask.ask import ask_stream
from app.ask.request import AskRequest
from app.ask.result import AskResult
from app.sandbox.openai_compat import ModelServer
from app.summaries.targets import Target
from tests.e2e import EMPLOYEE, LAUNCH, Stack, model_settings, running_stack

NO_ASK = """
use_cases:
  summarize: {channels: ["*"]}
"""


@pytest.fixture
async def stack(
    redis_url: str, redis_sync: object, tmp_path: Path, model: ModelServer
) -> AsyncIterator[Stack]:
    async with running_stack(redis_url, tmp_path, **model_settings(model.url)) as running:
        yield running


def question(stack: Stack, text: str) -> AskRequest:
    parent = next(m for m in stack.sandbox.messages(LAUNCH) if (m.reply_count or 0) > 30)
    return AskRequest(
        team_id="T0STEWARD",
        user_id=EMPLOYEE,
        target=Target(channel_id=LAUNCH, thread_ts=parent.ts),
        question=text,
        trigger="pane",
    )


async def streamed(stack: Stack, req: AskRequest) -> tuple[list[str], AskResult]:
    stream = ask_stream(stack.runtime.services, req)
    deltas = [delta async for delta in stream]
    assert stream.result is not None
    return deltas, stream.result


async def events(stack: Stack) -> list[Any]:
    return [e async for e in stack.runtime.services.audit.export()]


async def test_the_answer_streams_in_pieces_and_ends_with_citations(
    stack: Stack, model: ModelServer
) -> None:
    deltas, result = await streamed(stack, question(stack, "who owns the status page?"))
    assert len(deltas) > 1 and result.status == "answered"
    assert "".join(deltas) == result.streamed == result.text
    assert "Dev owns the status page" in result.text and result.end_line is None
    [citation] = result.citations
    assert citation.n == 1 and citation.permalink and "/archives/C0LAUNCH/p" in citation.permalink
    assert result.confidence is not None and result.confidence.label == "High"
    assert model.requests[0].body["stream"] is True
    audit = await events(stack)
    assert [e.event for e in audit] == ["requested", "generated"]
    assert audit[-1].extra["streamed"] is True and audit[-1].output == result.text
    assert stack.sandbox.ephemerals(user=EMPLOYEE) == []  # it tells nobody: the pane shows it


async def test_a_stream_whose_model_dies_midway_ends_with_a_clear_line(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    model = ModelServer(stream_cut_after=4)
    async with model, running_stack(redis_url, tmp_path, **model_settings(model.url)) as stack:
        deltas, result = await streamed(stack, question(stack, "who owns the status page?"))
        audit = await events(stack)
    assert result.status == "failed" and result.code == "model: stream_interrupted"
    assert deltas and result.streamed == "".join(deltas)
    assert result.end_line is not None and "stopped midway" in result.end_line
    assert "incomplete" in result.end_line
    assert [e.event for e in audit] == ["requested", "failed"]
    # What was finally shown: the part that streamed, then the line that ends it.
    assert audit[-1].output == f"{result.streamed}\n{result.end_line}"
    assert audit[-1].reason == "model: stream_interrupted"


async def test_a_question_the_messages_do_not_answer_streams_nothing(stack: Stack) -> None:
    deltas, result = await streamed(stack, question(stack, "what is the offsite catering budget?"))
    assert deltas == [] and result.status == "not_in_messages"
    assert result.text == "The messages don't say." and result.citations == []


async def test_a_refused_use_case_streams_nothing_and_is_audited(
    redis_url: str, redis_sync: object, tmp_path: Path, model: ModelServer
) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text(NO_ASK)
    settings = model_settings(model.url)
    async with running_stack(redis_url, tmp_path, steward_policy=policy, **settings) as stack:
        deltas, result = await streamed(stack, question(stack, "who owns the status page?"))
        audit = await events(stack)
    assert deltas == [] and result.status == "refused" and result.code == "policy"
    assert "'ask' is not enabled" in result.text
    assert [e.event for e in audit] == ["requested", "refused"] and model.requests == []


async def test_the_offline_engine_streams_its_answer_as_one_delta(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    async with running_stack(redis_url, tmp_path) as stack:
        deltas, result = await streamed(stack, question(stack, "who owns the status page?"))
    assert result.status == "answered" and result.engine == "offline"
    assert deltas == [result.text]


async def test_a_server_that_will_not_stream_still_answers(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    model = ModelServer(stream_unverified=True)
    async with model, running_stack(redis_url, tmp_path, **model_settings(model.url)) as stack:
        deltas, result = await streamed(stack, question(stack, "who owns the status page?"))
    assert result.status == "answered" and "".join(deltas) == result.text
    assert [r.status for r in model.requests] == [400, 200]
    assert "stream" not in model.requests[1].body
