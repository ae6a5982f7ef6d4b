"""Replays (issue 12 #8): one signed request sent again, byte for byte with its signature,
within Slack's 5-minute window, does its work once. Real app, real Redis, the sandbox as Slack."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from app.sandbox.transport import Delivery
from tests.e2e import EMPLOYEE, GENERAL, LAUNCH, SECRET, Stack, running_stack

FORM = "application/x-www-form-urlencoded"
REPLAYS = 4  # after the original: 5 deliveries in all


@pytest.fixture
async def stack(redis_url: str, redis_sync: object, tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(redis_url, tmp_path) as running:
        yield running


async def replay(stack: Stack, body: bytes) -> list[Delivery]:
    """The same body with one and the same signature, REPLAYS times, as an attacker who
    captured the request would send it."""
    timestamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    headers = {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
    }
    return [
        await stack.sandbox.deliver_raw(body, FORM, signing="unsigned", headers=headers)
        for _ in range(REPLAYS)
    ]


async def drained(stack: Stack) -> None:
    async def empty() -> bool:
        return await stack.runtime.queue.depth() == 0

    await stack.sandbox.wait_for(empty)


async def audit_events(stack: Stack) -> list[Any]:
    return [e async for e in stack.runtime.services.audit.export()]


def summaries(stack: Stack) -> list[Any]:
    ephemerals = stack.sandbox.ephemerals(user=EMPLOYEE)
    return [e for e in ephemerals if "Share in thread" in json.dumps(e.blocks)]


async def test_a_share_click_replayed_five_times_posts_once(stack: Stack) -> None:
    sandbox = stack.sandbox
    parent = next(m for m in sandbox.messages(LAUNCH) if m.reply_count and m.reply_count > 30)
    employee = sandbox.user(EMPLOYEE)
    await employee.message_shortcut("summarize_thread", parent)
    result = (await sandbox.wait_for(lambda: summaries(stack)))[0]

    def shared() -> list[Any]:
        return [m for m in sandbox.thread(LAUNCH, parent.ts) if "AI-generated" in m.text]

    click = await employee.click("Share in thread", in_=result)
    assert click.status == 200
    body = urlencode({"payload": json.dumps(click.sent)}).encode()
    assert all(again.status == 200 for again in await replay(stack, body))
    await sandbox.wait_for(shared)
    await drained(stack)
    assert len(shared()) == 1
    assert [e.event for e in await audit_events(stack)].count("shared") == 1


async def post_some(stack: Stack) -> None:
    user = stack.sandbox.user(EMPLOYEE)
    for text in ("We decided to ship on Tuesday.", "Can you update the changelog?", "Done."):
        await user.post(GENERAL, text)


async def test_a_summarize_command_replayed_five_times_runs_once(stack: Stack) -> None:
    sandbox = stack.sandbox
    await post_some(stack)
    command = await sandbox.user(EMPLOYEE).command("/summarize", "6h", channel=GENERAL)
    assert command.status == 200
    assert all(
        again.status == 200 for again in await replay(stack, urlencode(command.sent).encode())
    )
    await sandbox.wait_for(lambda: summaries(stack))
    await drained(stack)
    assert len(summaries(stack)) == 1
    assert [e.event for e in await audit_events(stack)].count("requested") == 1


async def test_two_real_commands_alike_but_for_their_trigger_both_run(stack: Stack) -> None:
    # The key is the interaction (Slack's fresh trigger_id), not the text: asking twice works.
    sandbox = stack.sandbox
    await post_some(stack)
    for _ in range(2):
        delivery = await sandbox.user(EMPLOYEE).command("/summarize", "6h", channel=GENERAL)
        assert delivery.status == 200
    await sandbox.wait_for(lambda: len(summaries(stack)) == 2)
    await drained(stack)
    assert [e.event for e in await audit_events(stack)].count("requested") == 2
