"""Backpressure (issue 16): past `STEWARD_MAX_BACKLOG` jobs in the normal lane, serve answers a
new `/summarize` "busy, try again in a minute" at once and queues nothing; the refusal is
counted. `/steward` (the interactive lane) is never refused.
Signed HTTP into the real app (no workers, so the backlog stays put), the strict sandbox, a
real Redis."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.runtime.keys import STREAM
from handlers.http import BUSY_TEXT
from tests.e2e import EMPLOYEE, GENERAL, Stack, running_stack
from tests.test_front_door import Counted

BOUND = 3


@pytest.fixture
async def stack(redis_url: str, redis_sync: object, tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(redis_url, tmp_path, workers=0, steward_max_backlog=BOUND) as s:
        yield s


async def test_past_the_backlog_a_command_is_told_to_come_back(stack: Stack) -> None:
    user = stack.sandbox.user(EMPLOYEE)
    for _ in range(BOUND):
        queued = await user.command("/summarize", "", channel=GENERAL)
        assert (queued.status, queued.body) == (200, "")
    async with Counted(stack, "steward_limited_total", limit="backlog", use_case="any") as c:
        refused = await user.command("/summarize", "", channel=GENERAL)
        grew = await c.grew()
    assert refused.status == 200, refused
    assert grew == 1, refused.body
    answer = json.loads(refused.body)
    assert answer == {"response_type": "ephemeral", "text": BUSY_TEXT}
    assert await stack.runtime.services.redis.xlen(STREAM) == BOUND  # nothing more queued
    help_ = await user.command("/steward", "help", channel=GENERAL)
    assert (help_.status, help_.body) == (200, "")  # queued in the interactive lane


async def test_past_the_backlog_an_event_is_left_for_slack_to_redeliver(stack: Stack) -> None:
    user = stack.sandbox.user(EMPLOYEE)
    for _ in range(BOUND):
        await user.command("/summarize", "", channel=GENERAL)
    event = {"type": "app_home_opened", "user": EMPLOYEE, "tab": "home", "channel": "D0EMP"}
    delivery = await user.event(event, event_id="Ev0BUSY")
    assert delivery.status == 503
    assert await stack.runtime.services.redis.xlen(STREAM) == BOUND
