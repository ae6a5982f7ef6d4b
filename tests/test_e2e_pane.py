"""The agent pane end to end: signed events into serve, the strict sandbox, real Redis and the
loopback model. Open → prompts that respect policy; "summarise this channel" → a streamed,
cited summary with feedback buttons; retries stream one answer; the same governance as commands.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.pane.conversation import CAN_DO, NEEDS
from app.sandbox.openai_compat import ModelServer
from app.sandbox.pane import PaneSide
from app.sandbox.records import Message
from tests.e2e import EMPLOYEE, LAUNCH, Stack, model_settings, pending, running_stack

NEWS = [
    ("U0ENG", "Decision: the launch moves to Tuesday, the export is ready. Email dev@acme.example"),
    ("U0MGR1", "Who owns the status page? Priya will update it by Monday."),
    ("U0EMP", "Action: Dev writes the release notes before the launch."),
]


@pytest.fixture
async def stack(
    redis_url: str, redis_sync: object, tmp_path: Path, model: ModelServer
) -> AsyncIterator[Stack]:
    async with running_stack(redis_url, tmp_path, **model_settings(model.url)) as running:
        for user, text in NEWS:
            running.sandbox.workspace.add_message(LAUNCH, text, user=user)
        yield running


async def audit_events(stack: Stack) -> list[Any]:
    return [e async for e in stack.runtime.services.audit.export()]


def answered(pane: PaneSide, asked: Message) -> list[Message]:
    """The app's finished (not streaming) replies in the pane thread of `asked`."""
    return [m for m in pane.replies(asked.ts) if not m.streaming]


async def test_open_offers_prompts_that_policy_allows(stack: Stack) -> None:
    pane = stack.sandbox.user(EMPLOYEE).pane
    await pane.open(viewing=LAUNCH)
    prompts = await stack.sandbox.wait_for(
        lambda: (p := pane.prompts()) and any("#launch" in t for t in p) and p
    )
    assert prompts == [
        "Summarise #launch since yesterday",
        "Draft a reply",
        "What may AI do in #launch?",
    ]


async def test_summarise_this_channel_streams_a_cited_summary(
    stack: Stack, model: ModelServer
) -> None:
    sandbox = stack.sandbox
    pane = sandbox.user(EMPLOYEE).pane
    await pane.open(viewing=LAUNCH)
    await sandbox.wait_for(lambda: any("#launch" in t for t in pane.prompts()))
    asked = (await pane.type("summarise this channel")).message
    [reply] = await sandbox.wait_for(lambda: answered(pane, asked))
    statuses = sandbox.workspace.pane.statuses_in(pane.dm, asked.ts)
    assert statuses[0] == "Checking policy for #launch…"
    assert statuses[1] == "Reading 3 messages…"
    assert "Removing 1 personal detail…" in statuses  # the email address
    assert statuses[-1] == "Summarising…"
    assert pane.status(asked.ts) is None  # the answer cleared it
    assert sandbox.calls("chat.startStream") and sandbox.calls("chat.stopStream")
    assert "](https://" in reply.text  # citations link to the messages
    blocks = json.dumps(reply.blocks)
    assert "AI-generated" in blocks and "Confidence" in blocks and '"Why?"' in blocks
    assert any(b["type"] == "context_actions" for b in reply.blocks)
    events = await audit_events(stack)
    assert [e.event for e in events] == ["requested", "generated"]
    assert events[-1].channel_id == LAUNCH and events[-1].use_case == "summarize"
    assert events[-1].output and model.requests

    await pane.feedback(reply, positive=True)
    await sandbox.wait_for(lambda: sandbox.ephemerals(user=EMPLOYEE))
    rated = [e for e in await audit_events(stack) if e.event == "feedback"]
    assert len(rated) == 1 and rated[0].reason == "up"
    assert rated[0].interaction_id == events[-1].interaction_id


async def drained(stack: Stack, timeout: float = 10.0) -> None:
    """Wait (polling, like Sandbox.wait_for) until no job is left unacknowledged."""
    deadline = asyncio.get_running_loop().time() + timeout
    while await pending(stack.runtime.services.redis):
        assert asyncio.get_running_loop().time() < deadline, "jobs still pending"
        await asyncio.sleep(0.02)


async def opened(stack: Stack) -> PaneSide:
    pane = stack.sandbox.user(EMPLOYEE).pane
    await pane.open(viewing=LAUNCH)
    await stack.sandbox.wait_for(lambda: any("#launch" in t for t in pane.prompts()))
    return pane


async def test_the_same_event_three_times_streams_one_answer(
    stack: Stack, model: ModelServer
) -> None:
    sandbox = stack.sandbox
    pane = await opened(stack)
    posted = await pane.type("summarise this channel")
    assert posted.delivery is not None
    for retry in (1, 2):  # Slack's retries: the same body and event_id, X-Slack-Retry-Num
        again = await sandbox.user(EMPLOYEE).redeliver(posted.delivery, retry_num=retry)
        assert again.status == 200
    await sandbox.wait_for(lambda: answered(pane, posted.message))
    await drained(stack)
    assert len(sandbox.calls("chat.startStream")) == 1
    assert len(pane.replies(posted.message.ts)) == 1
    events = [e.event for e in await audit_events(stack)]
    assert events == ["requested", "generated"]
    assert len(model.requests) == 1


async def test_unclear_words_run_no_use_case(stack: Stack, model: ModelServer) -> None:
    sandbox = stack.sandbox
    pane = await opened(stack)
    for text, expected in [
        ("banana", CAN_DO),
        ("summarise this thread", NEEDS["thread"]),
    ]:
        asked = (await pane.type(text)).message
        [reply] = await sandbox.wait_for(lambda asked=asked: pane.replies(asked.ts))
        assert reply.text == expected
    assert model.requests == [] and await audit_events(stack) == []
    assert sandbox.calls("chat.startStream") == []


async def test_a_model_that_fails_gets_a_clear_line_in_the_thread(
    stack: Stack, model: ModelServer
) -> None:
    sandbox = stack.sandbox
    pane = await opened(stack)
    model.fail_next(times=10, status=400)
    asked = (await pane.type("summarise this channel")).message
    [reply] = await sandbox.wait_for(lambda: pane.replies(asked.ts))
    assert reply.text.startswith(":warning:") and "No summary was made" in reply.text
    assert pane.status(asked.ts) is None
    events = await audit_events(stack)
    assert [e.event for e in events] == ["requested", "failed"]
    assert events[-1].reason.startswith("model:")
