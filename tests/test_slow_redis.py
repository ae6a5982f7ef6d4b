"""A Redis that takes connections but never answers: serve still answers Slack within its
budget, and says what that answer means (issue 12: "a Redis outage: a precise message").

Real HTTP into the real app, the strict sandbox as Slack; the stalled Redis is a loopback TCP
server that reads and never replies (the outside world, so it is the one thing faked)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import handlers.http
from tests.e2e import EMPLOYEE, GENERAL, Stack, running_stack


@pytest.fixture
async def stalled_redis() -> AsyncIterator[str]:
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while await reader.read(65536):
            pass  # read every command, answer none

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        for writer in held:
            writer.close()
        server.close()


@pytest.fixture
async def stack(
    stalled_redis: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Stack]:
    # The budget is Slack's 3 s less a margin; a short one keeps the test quick. What is
    # asserted is the answer's content, not how long it took.
    monkeypatch.setattr(handlers.http, "ACK_BUDGET_S", 0.2)
    async with running_stack(stalled_redis, tmp_path, workers=0) as running:
        yield running


async def test_a_command_is_told_its_request_may_not_have_been_taken(stack: Stack) -> None:
    delivery = await stack.sandbox.user(EMPLOYEE).command("/steward", "help", channel=GENERAL)
    assert delivery.status == 200
    answer = json.loads(delivery.body)
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == handlers.http.SLOW_TEXT


async def test_an_event_is_refused_so_that_slack_redelivers_it(stack: Stack) -> None:
    event = {"type": "app_home_opened", "user": EMPLOYEE, "tab": "home", "channel": "D0EMP"}
    delivery = await stack.sandbox.user(EMPLOYEE).event(event, event_id="Ev0SLOW")
    assert delivery.status == 503
