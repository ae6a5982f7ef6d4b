"""Foundation end to end: signed requests into the real app, replies recorded by the sandbox."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from app.sandbox import Sandbox
from tests.e2e import EMPLOYEE, GENERAL, Stack, retrying, running_stack


@pytest.fixture
async def stack(redis_url: str, redis_sync: object, tmp_path: Path) -> Stack:  # type: ignore[misc]
    async with running_stack(redis_url, tmp_path) as running:
        yield running


def help_replies(sandbox: Sandbox, user: str = EMPLOYEE) -> list[str]:
    return [e.text for e in sandbox.ephemerals(user=user) if "Steward help" in e.text]


async def test_signed_help_command_is_acked_and_answered_privately(stack: Stack) -> None:
    sandbox = stack.sandbox
    delivery = await sandbox.user(EMPLOYEE).command("/steward", "help", channel=GENERAL)
    assert delivery.status == 200
    replies = await sandbox.wait_for(lambda: help_replies(sandbox))
    assert len(replies) == 1
    posted = sandbox.calls("chat.postEphemeral")
    assert posted[-1].args["user"] == EMPLOYEE
    assert posted[-1].args["channel"] == GENERAL
    assert posted[-1].ok  # the sandbox validated the blocks as Block Kit
    assert "/summarize" in json.dumps(posted[-1].args["blocks"])


@pytest.mark.parametrize("signing", ["unsigned", "bad", "stale"])
async def test_unverified_requests_get_401_and_are_counted(stack: Stack, signing: str) -> None:
    body = b"command=%2Fsteward&text=help&user_id=U0EMP&channel_id=C0GENERAL&team_id=T0STEWARD"
    delivery = await stack.sandbox.deliver_raw(
        body,
        "application/x-www-form-urlencoded",
        signing=signing,  # type: ignore[arg-type]
    )
    assert delivery.status == 401
    async with (
        aiohttp.ClientSession() as session,
        session.get(stack.server.url + "/metrics") as response,
    ):
        text = await response.text()
    counted = [line for line in text.splitlines() if line.startswith("steward_bad_signatures")]
    assert counted and float(counted[0].split()[-1]) >= 1
    assert stack.sandbox.calls("chat.postEphemeral") == []


async def test_event_delivered_three_times_is_answered_once(stack: Stack) -> None:
    sandbox = stack.sandbox
    user = sandbox.user(EMPLOYEE)
    posted = await user.mention(GENERAL, "<@UBOT> help")
    first = posted.delivery
    assert first is not None and first.status == 200
    for retry in (1, 2):
        again = await user.redeliver(first, retry_num=retry)
        assert again.status == 200
    await sandbox.wait_for(lambda: help_replies(sandbox))
    # Every job the three deliveries could have created has been acknowledged by now.
    await _queue_drained(stack)
    assert len(help_replies(sandbox)) == 1


async def _queue_drained(stack: Stack) -> None:
    async def drained() -> bool:
        return await stack.runtime.queue.depth() == 0

    await stack.sandbox.wait_for(drained)


async def test_rate_limited_reply_still_arrives_after_retry_after(stack: Stack) -> None:
    sandbox = stack.sandbox
    sandbox.faults.add("chat.postEphemeral", "ratelimit", times=1, retry_after=1)
    await sandbox.user(EMPLOYEE).command("/steward", "help", channel=GENERAL)
    await sandbox.wait_for(lambda: help_replies(sandbox))
    limited = [f for f in sandbox.faults.fired if f.kind == "ratelimit"]
    delivered = sandbox.calls("chat.postEphemeral")
    assert len(limited) == 1 and len(delivered) == 1
    # slack_sdk waited out Retry-After (1 s) before trying again.
    assert delivered[0].at - limited[0].at >= 1.0


async def test_app_home_is_published(stack: Stack) -> None:
    sandbox = stack.sandbox
    delivery = await sandbox.user(EMPLOYEE).open_home()
    assert delivery.status == 200
    home = await sandbox.wait_for(lambda: sandbox.home(EMPLOYEE))
    assert "Steward" in json.dumps(home.blocks)


async def test_unknown_subcommand_gets_a_private_usage_answer(stack: Stack) -> None:
    sandbox = stack.sandbox
    delivery = await sandbox.user(EMPLOYEE).command("/steward", "frobnicate")
    # Acknowledged before it was read; the listener's answer goes through the response_url.
    assert delivery.status == 200 and delivery.body == ""
    answer = await sandbox.wait_for(
        lambda: next((e for e in sandbox.ephemerals(user=EMPLOYEE) if "frobnicate" in e.text), None)
    )
    assert "Unknown command `frobnicate`" in answer.text and "/steward help" in answer.text
    assert answer.source == "response_url"
    assert not sandbox.calls("chat.postMessage")


async def test_healthz_and_metrics(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(stack.server.url + "/healthz") as response:
            assert response.status == 200
        async with session.get(stack.server.url + "/metrics") as response:
            body = await response.text()
    assert "steward_queue_depth" in body
    assert "steward_ack_seconds_bucket" in body


async def test_dead_job_tells_the_user(stack: Stack) -> None:
    sandbox = stack.sandbox
    # Every help post fails with a Slack error that is not retryable: the job fails for good.
    sandbox.faults.add("chat.postEphemeral", "error", times=3, error="fatal_error")
    await sandbox.user(EMPLOYEE).command("/steward", "help", channel=GENERAL)

    def told() -> list[str]:
        return [e.text for e in sandbox.ephemerals(user=EMPLOYEE) if "could not finish" in e.text]

    assert await retrying(stack, told)
    assert len(await stack.runtime.queue.dead_letters()) == 1


async def test_socket_mode_round_trip(redis_url: str, redis_sync: object, tmp_path: Path) -> None:
    from app.runtime.process import Runtime
    from handlers.socket import run_socket
    from tests.e2e import quick_queue, test_settings

    async with Sandbox(signing_secret="unused", transport="socket") as sandbox:
        from app.sandbox import seed_demo_workspace

        seed_demo_workspace(sandbox.workspace)
        settings = test_settings(sandbox, redis_url, tmp_path, slack_signing_secret=None)
        runtime = Runtime(settings, redis_url, quick_queue())
        stop = asyncio.Event()
        task = asyncio.create_task(run_socket(runtime, stop))
        try:
            await sandbox.socket.wait_connected(10)
            delivery = await sandbox.user(EMPLOYEE).command("/steward", "help")
            assert delivery.status == 200
            assert await sandbox.wait_for(lambda: help_replies(sandbox))
        finally:
            stop.set()
            await task
