"""Follow-up questions in the agent pane end to end: signed events into serve, the strict
sandbox's pane user side, the loopback model streaming, real Redis. After "summarise this
channel", a question in that thread is asked about that conversation (`ask`), streamed, cited
and rated like a summary; the messages' silence and policy's refusal are said as elsewhere."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.pane.followup import HOW_TO_ASK
from app.sandbox.openai_compat import ModelServer
from app.sandbox.pane import PaneSide
from app.sandbox.records import Message
from tests.e2e import EMPLOYEE, LAUNCH, Stack, model_settings, pending, running_stack

NEWS = [
    ("U0ENG", "Decision: the launch moves to Tuesday, the export is ready."),
    ("U0MGR1", "Who owns the status page? Priya will update it by Monday."),
    ("U0EMP", "Action: Dev writes the release notes before the launch."),
]
NO_ASK_IN_LAUNCH = """\
admins: [U0ADMIN]
use_cases:
  summarize: {channels: ["*"]}
  ask: {channels: ["*"], deny_channels: [C0LAUNCH]}
"""


@pytest.fixture
async def stack(
    redis_url: str, redis_sync: object, tmp_path: Path, model: ModelServer
) -> AsyncIterator[Stack]:
    async with running_stack(redis_url, tmp_path, **model_settings(model.url)) as running:
        for user, text in NEWS:
            running.sandbox.workspace.add_message(LAUNCH, text, user=user)
        yield running


@pytest.fixture
async def no_ask(
    redis_url: str, redis_sync: object, tmp_path: Path, model: ModelServer
) -> AsyncIterator[Stack]:
    policy = tmp_path / "policy.yml"
    policy.write_text(NO_ASK_IN_LAUNCH)
    async with running_stack(
        redis_url, tmp_path, steward_policy=policy, **model_settings(model.url)
    ) as running:
        for user, text in NEWS:
            running.sandbox.workspace.add_message(LAUNCH, text, user=user)
        yield running


async def audit_events(stack: Stack) -> list[Any]:
    return [e async for e in stack.runtime.services.audit.export()]


async def drained(stack: Stack, timeout: float = 10.0) -> None:
    """Wait (polling, like Sandbox.wait_for) until no job is left unacknowledged."""
    deadline = asyncio.get_running_loop().time() + timeout
    while await pending(stack.runtime.services.redis):
        assert asyncio.get_running_loop().time() < deadline, "jobs still pending"
        await asyncio.sleep(0.02)


def finished(pane: PaneSide, root: Message) -> list[Message]:
    return [m for m in pane.replies(root.ts) if not m.streaming]


async def summarised(stack: Stack) -> tuple[PaneSide, Message]:
    """The pane open beside #launch, and the thread of its finished summary of the channel."""
    sandbox = stack.sandbox
    pane = sandbox.user(EMPLOYEE).pane
    await pane.open(viewing=LAUNCH)
    await sandbox.wait_for(lambda: any("#launch" in t for t in pane.prompts()))
    root = (await pane.type("summarise this channel")).message
    await sandbox.wait_for(lambda: finished(pane, root))
    return pane, root


async def follow_up(stack: Stack, pane: PaneSide, root: Message, question: str) -> Message:
    await pane.reply(root.ts, question)
    replies = await stack.sandbox.wait_for(lambda: len(finished(pane, root)) == 2 or None)
    assert replies
    return finished(pane, root)[-1]


async def test_a_follow_up_in_a_summary_thread_is_answered_from_it_with_citations(
    stack: Stack, model: ModelServer
) -> None:
    sandbox = stack.sandbox
    pane, root = await summarised(stack)
    await pane.view(None)  # nothing in view now: the thread still says what it is about
    await sandbox.wait_for(lambda: "#launch" not in " ".join(pane.prompts()) or None)
    starts = len(sandbox.calls("chat.startStream"))
    reply = await follow_up(stack, pane, root, "who owns the status page?")
    assert "Priya will update it by Monday" in reply.text
    assert f"/archives/{LAUNCH}/p" in reply.text and "[1](" in reply.text  # cited
    blocks = json.dumps(reply.blocks)
    assert "AI-generated" in blocks and "Confidence" in blocks and '"Why?"' in blocks
    assert any(b["type"] == "context_actions" for b in reply.blocks)
    assert len(sandbox.calls("chat.startStream")) == starts + 1  # streamed, not posted
    asked = [e for e in await audit_events(stack) if e.use_case == "ask"]
    assert [e.event for e in asked] == ["requested", "generated"]
    assert asked[-1].channel_id == LAUNCH and "Priya" in (asked[-1].output or "")

    await pane.feedback(reply, positive=False)
    await sandbox.wait_for(lambda: sandbox.ephemerals(user=EMPLOYEE))
    rated = [e for e in await audit_events(stack) if e.event == "feedback"]
    assert len(rated) == 1 and rated[0].reason == "down"
    assert rated[0].interaction_id == asked[-1].interaction_id


async def test_a_question_the_messages_do_not_answer_says_so(
    stack: Stack, model: ModelServer
) -> None:
    pane, root = await summarised(stack)
    reply = await follow_up(stack, pane, root, "what colour is the office cat?")
    assert "The messages don't say." in reply.text
    assert "I found nothing in the 3 messages of this channel" in reply.text
    assert "Confidence" not in json.dumps(reply.blocks)
    [generated] = [
        e for e in await audit_events(stack) if e.use_case == "ask" and e.event == "generated"
    ]
    assert generated.extra["answered"] is False


async def test_a_new_thread_asks_about_the_channel_in_view_or_says_how_to_ask(
    stack: Stack, model: ModelServer
) -> None:
    sandbox = stack.sandbox
    pane = sandbox.user(EMPLOYEE).pane
    await pane.open(viewing=LAUNCH)
    await sandbox.wait_for(lambda: any("#launch" in t for t in pane.prompts()))
    root = (await pane.type("who owns the status page?")).message
    [reply] = await sandbox.wait_for(lambda: finished(pane, root))
    assert "Priya will update it by Monday" in reply.text

    await pane.view(None)
    await sandbox.wait_for(lambda: "#launch" not in " ".join(pane.prompts()) or None)
    lost = (await pane.type("who writes the release notes?")).message
    [reply] = await sandbox.wait_for(lambda: finished(pane, lost))
    assert reply.text == HOW_TO_ASK
    assert len([e for e in await audit_events(stack) if e.event == "requested"]) == 1


async def test_ask_turned_off_by_policy_is_refused_with_the_rule(
    no_ask: Stack, model: ModelServer
) -> None:
    sandbox = no_ask.sandbox
    pane, root = await summarised(no_ask)
    reply = await follow_up(no_ask, pane, root, "who owns the status page?")
    assert reply.text == ":no_entry: 'ask' is turned off in this channel by policy."
    await sandbox.user(EMPLOYEE).command(
        "/steward", "ask who owns the status page?", channel=LAUNCH
    )
    by_command = await sandbox.wait_for(
        lambda: [e for e in sandbox.ephemerals(user=EMPLOYEE) if "no_entry" in e.text]
    )
    assert by_command[-1].text == reply.text  # the same words as the command's
    refused = [e for e in await audit_events(no_ask) if e.event == "refused"]
    assert [e.reason for e in refused] == ["policy", "policy"]
    assert all(e.use_case == "ask" for e in refused)


async def test_a_follow_up_whose_model_dies_midway_ends_with_a_clear_line(
    stack: Stack, model: ModelServer
) -> None:
    pane, root = await summarised(stack)
    model.stream_cut_after = 4  # the model's stream closes after 4 chunks, mid-answer
    reply = await follow_up(stack, pane, root, "who owns the status page?")
    assert "stopped midway" in reply.text and "incomplete" in reply.text
    assert not any(b["type"] == "context_actions" for b in reply.blocks)  # nothing to rate
    assert '"Why?"' in json.dumps(reply.blocks)
    [failed] = [
        e for e in await audit_events(stack) if e.use_case == "ask" and e.event != "requested"
    ]
    assert failed.event == "failed" and failed.reason == "model: stream_interrupted"
    assert failed.output and failed.output.splitlines()[-1] in reply.text


async def test_the_same_follow_up_delivered_three_times_streams_one_answer(
    stack: Stack, model: ModelServer
) -> None:
    sandbox = stack.sandbox
    pane, root = await summarised(stack)
    calls = len(model.requests)
    posted = await pane.reply(root.ts, "who owns the status page?")
    assert posted.delivery is not None
    for retry in (1, 2):  # Slack's retries: the same body and event_id, X-Slack-Retry-Num
        again = await sandbox.user(EMPLOYEE).redeliver(posted.delivery, retry_num=retry)
        assert again.status == 200
    await sandbox.wait_for(lambda: len(finished(pane, root)) == 2 or None)
    await drained(stack)
    assert len(finished(pane, root)) == 2 and len(sandbox.calls("chat.startStream")) == 2
    assert len(model.requests) == calls + 1
    asked = [e.event for e in await audit_events(stack) if e.use_case == "ask"]
    assert asked == ["requested", "generated"]
