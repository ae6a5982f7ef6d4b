"""A draft asked for in the agent pane: shown in the pane thread with Edit / Submit for approval /
Discard, and approved by the existing flow in the draft's channel. Offline engine, real Redis,
signed events into serve."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e import EMPLOYEE, LAUNCH, MANAGER, Stack, running_stack
from tests.test_e2e_draft import (
    POLICY,
    event_names,
    interaction_of,
    labels,
    pending_requests,
    posts,
    until_event,
    write_policy,
)


@pytest.fixture
async def stack(redis_url: str, redis_sync: object, tmp_path: Path) -> AsyncIterator[Stack]:
    policy = write_policy(tmp_path, POLICY)
    async with running_stack(redis_url, tmp_path, steward_policy=str(policy)) as running:
        yield running


async def test_a_draft_from_the_pane_is_submitted_and_approved(stack: Stack) -> None:
    sb = stack.sandbox
    pane = sb.user(EMPLOYEE).pane
    await pane.open(viewing=LAUNCH)
    await sb.wait_for(lambda: any("#launch" in t for t in pane.prompts()))
    asked = (await pane.type("draft a reply saying we ship Tuesday")).message
    draft = (
        await sb.wait_for(
            lambda: [
                e
                for e in sb.ephemerals(user=EMPLOYEE, channel=pane.dm)
                if e.thread_ts == asked.ts and "Discard" in labels(e.blocks)
            ]
        )
    )[0]
    assert {"Edit", "Submit for approval", "Discard", "Why?"} <= set(labels(draft.blocks))
    assert "we ship Tuesday" in json.dumps(draft.blocks)
    interaction = interaction_of(draft)

    await sb.user(EMPLOYEE).click("Submit for approval", in_=draft)
    request = (await sb.wait_for(lambda: pending_requests(sb, LAUNCH)))[0]
    await sb.user(MANAGER).click("Approve", in_=request)
    post = (await sb.wait_for(lambda: posts(sb, LAUNCH)))[0]
    assert "we ship Tuesday" in post.text
    await until_event(stack, interaction, "posted")
    names = await event_names(stack, interaction)
    assert names == ["requested", "generated", "approval_requested", "approved", "posted"]
