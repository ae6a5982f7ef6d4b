"""Steward against Slack's published contract, end to end (signed HTTP, strict sandbox, Redis).

Each test is one way a real workspace differs from a friendly fake: channels the bot is not in,
permalinks to replies, messages longer than one post can hold.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.sandbox import Sandbox
from app.sandbox.openai_compat import ModelServer
from app.sandbox.records import Ephemeral
from app.slack.message_split import BLOCK_TEXT_BUDGET, block_text_length
from tests.e2e import EMPLOYEE, GENERAL, LAUNCH, MANAGER, Stack, model_settings, running_stack
from tests.test_e2e_draft import (
    drafts_for,
    event_names,
    interaction_of,
    labels,
    new_draft,
    pending_requests,
    texts,
    until_event,
    write_policy,
)

PRIVATE_APPROVALS = "C0SECRETAPPR"  # private, Steward not invited
PUBLIC_APPROVALS = "C0OPENAPPR"  # public, Steward not (yet) a member

POLICY = f"""
admins: [U0ADMIN]
groups:
  managers: [U0MGR1, U0MGR2]
use_cases:
  summarize:
    channels: ["*"]
  draft:
    channels: ["*"]
    approval: {{required: true, approvers: managers, expire_after: 24h}}
channels:
  {LAUNCH}:
    draft: {{approval: {{required: true, approvers: managers, channel: {PRIVATE_APPROVALS}}}}}
  {GENERAL}:
    draft: {{approval: {{required: true, approvers: managers, channel: {PUBLIC_APPROVALS}}}}}
"""


@pytest.fixture
async def stack(
    redis_url: str, redis_sync: object, tmp_path: Path, model: ModelServer
) -> AsyncIterator[Stack]:
    policy = write_policy(tmp_path, POLICY)
    async with running_stack(
        redis_url, tmp_path, steward_policy=str(policy), **model_settings(model.url)
    ) as running:
        ws = running.sandbox.workspace
        approvers = ["U0MGR1", "U0MGR2", "U0ADMIN"]
        ws.add_channel(
            PRIVATE_APPROVALS, "secret-approvals", private=True, members=approvers,
            bot_member=False,
        )  # fmt: skip
        ws.add_channel(PUBLIC_APPROVALS, "open-approvals", members=approvers, bot_member=False)
        yield running


def summaries(sandbox: Sandbox, user: str = EMPLOYEE) -> list[Ephemeral]:
    return [e for e in sandbox.ephemerals(user=user) if "AI-generated" in json.dumps(e.blocks)]


async def timers_pending(stack: Stack) -> int:
    return int(await stack.runtime.services.redis.zcard("steward:timers"))


async def test_approval_channel_without_steward_tells_the_requester_and_leaves_nothing_pending(
    stack: Stack,
) -> None:
    sb = stack.sandbox
    draft = await new_draft(stack, "announce the beta date", channel=LAUNCH)
    interaction = interaction_of(draft)
    await sb.user(EMPLOYEE).click("Submit for approval", in_=draft)
    told = await sb.wait_for(
        lambda: [t for t in texts(sb, EMPLOYEE) if "Not submitted" in t] or None
    )
    assert f"<#{PRIVATE_APPROVALS}>" in told[0] and "/invite @Steward" in told[0]
    assert pending_requests(sb, PRIVATE_APPROVALS) == []
    state = await stack.runtime.services.redis.hget(f"steward:draft:{interaction}", "status")
    assert state == "draft"  # still the requester's, not waiting on a request nobody sees
    assert await timers_pending(stack) == 0
    await until_event(stack, interaction, "failed")
    assert await event_names(stack, interaction) == ["requested", "generated", "failed"]

    # Once someone invites Steward, the same draft can be submitted and is requested there.
    sb.workspace.channels[PRIVATE_APPROVALS].members.add(sb.workspace.bot_user_id)
    await sb.user(EMPLOYEE).click("Submit for approval", in_=draft)
    request = (await sb.wait_for(lambda: pending_requests(sb, PRIVATE_APPROVALS)))[0]
    assert labels(request.blocks) == ["Approve", "Edit", "Reject", "Why?"]
    await until_event(stack, interaction, "approval_requested")


async def test_public_approval_channel_is_joined_before_the_request_is_posted(
    stack: Stack,
) -> None:
    sb = stack.sandbox
    draft = await new_draft(stack, "announce the offsite", channel=GENERAL)
    await sb.user(EMPLOYEE).click("Submit for approval", in_=draft)
    request = (await sb.wait_for(lambda: pending_requests(sb, PUBLIC_APPROVALS)))[0]
    assert sb.workspace.bot_user_id in sb.workspace.channels[PUBLIC_APPROVALS].members
    assert [c for c in sb.calls("conversations.join") if c.args.get("channel") == PUBLIC_APPROVALS]
    await sb.user(MANAGER).click("Approve", in_=request)
    await until_event(stack, interaction_of(draft), "posted")


@pytest.mark.parametrize("with_query", [True, False], ids=["copied-link", "bare-reply-link"])
async def test_permalink_to_a_reply_summarises_its_whole_thread(
    stack: Stack, model: ModelServer, with_query: bool
) -> None:
    sb = stack.sandbox
    parent = next(m for m in sb.workspace.channels[LAUNCH].top if m.reply_count)
    reply = sb.workspace.channels[LAUNCH].threads[parent.ts].replies[7]
    link = f"https://acme.slack.com/archives/{LAUNCH}/p{reply.ts.replace('.', '')}"
    if with_query:
        link += f"?thread_ts={parent.ts}&cid={LAUNCH}"
    await sb.user(EMPLOYEE).command("/summarize", f"<{link}>", channel=GENERAL)
    await sb.wait_for(lambda: summaries(sb))
    assert len(model.requests[0].message_ids) == 40  # the parent and all 39 replies


async def test_a_sixty_thousand_character_summary_arrives_whole_in_several_messages(
    stack: Stack, model: ModelServer
) -> None:
    sb = stack.sandbox
    words = " ".join(f"word{n:05d}" for n in range(6000))  # 6,000 distinct words, ~60k chars
    assert len(words) >= 59_000
    model.compromised_gist_suffix = " " + words
    parent = next(m for m in sb.workspace.channels[LAUNCH].top if m.reply_count)
    await sb.user(EMPLOYEE).message_shortcut("summarize_thread", parent)

    def parts() -> list[Ephemeral] | None:
        found = [e for e in sb.ephemerals(user=EMPLOYEE) if "word" in json.dumps(e.blocks)]
        return found if found and "Share in thread" in labels(found[-1].blocks) else None

    delivered = await sb.wait_for(parts)
    assert len(delivered) >= 6
    shown = "".join(
        el.get("text", "") if isinstance(el, dict) else ""
        for e in delivered
        for b in e.blocks
        for el in [b.get("text") or {}]
    )
    missing = [n for n in range(6000) if f"word{n:05d}" not in shown]
    assert missing == []  # split, never truncated
    for ephemeral in delivered:
        assert block_text_length(ephemeral.blocks) <= BLOCK_TEXT_BUDGET
    assert all("part" in e.text for e in delivered)
    assert len([e for e in delivered if "Share in thread" in labels(e.blocks)]) == 1
    rejected = [c for c in sb.calls("chat.postEphemeral") if not c.response.get("ok")]
    assert rejected == []
    assert drafts_for(sb) == []


async def test_without_channels_history_a_summary_names_the_missing_scope(stack: Stack) -> None:
    sb = stack.sandbox
    sb.scopes = sb.scopes - {"channels:history"}  # as if removed from manifest.yml
    await sb.user(EMPLOYEE).command("/summarize", "", channel=LAUNCH)
    told = await sb.wait_for(lambda: [t for t in texts(sb, EMPLOYEE) if "missing" in t] or None)
    assert "`channels:history`" in told[0] and "OAuth & Permissions" in told[0]
    refused = [c for c in sb.calls("conversations.history") if not c.ok]
    assert refused and refused[0].response["error"] == "missing_scope"
    assert refused[0].response["needed"] == "channels:history"
    assert summaries(sb) == []


async def test_a_public_channel_steward_is_not_in_is_joined_then_summarised(
    stack: Stack, model: ModelServer
) -> None:
    sb = stack.sandbox
    ws = sb.workspace
    ws.add_channel("C0RANDOM", "random", members=[EMPLOYEE, MANAGER], bot_member=False)
    for n in range(3):
        ws.add_message("C0RANDOM", f"We decided to move standup to 10am, note {n}", user=MANAGER)
    await sb.user(EMPLOYEE).command("/summarize", "", channel="C0RANDOM")
    await sb.wait_for(lambda: summaries(sb))
    assert ws.bot_user_id in ws.channels["C0RANDOM"].members
    assert len(model.requests[0].message_ids) == 3
