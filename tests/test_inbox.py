"""The HTTP inbox: slash commands and events acknowledged before they are read, then replayed
through the same Bolt listeners by a worker. Real app, real Redis, the sandbox as Slack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from app.runtime.inbox import KIND, SlackRequest
from app.runtime.keys import STREAMS
from app.runtime.queue import Job, QueueConfig
from app.slack.reply import ReplyTo
from handlers import inbox
from handlers.inbox import deferrable
from tests.e2e import EMPLOYEE, GENERAL, VISIBILITY, pending, retrying, running_stack

COMMAND = "command=%2Fsteward&text=help&user_id=U0EMP&channel_id=C0GENERAL&team_id=T0STEWARD"
FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (COMMAND, FORM, True),
        ("token=x&command=%2Fsummarize&text=6h", FORM, True),
        ('payload={"type":"block_actions"}', FORM, False),  # a click: answered synchronously
        ("payload=%7B%22command%3D%22%3A1%7D", FORM, False),  # "command=" only inside a value
        ("ssl_check=1&token=x", FORM, False),
        ('{"type":"event_callback","event":{"type":"app_mention"}}', "application/json", True),
        ('{"type":"url_verification","challenge":"c"}', "application/json", False),
        ('{"type": "event_callback"', "application/json", False),  # malformed: Bolt says so
        ("[1, 2]", "application/json", False),
    ],
)
def test_only_commands_and_event_callbacks_are_deferred(
    body: str, content_type: str, expected: bool
) -> None:
    assert deferrable(body, content_type) is expected


async def queued_jobs(redis_url: str) -> list[Job]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        entries: Any = []
        for stream in STREAMS.values():  # both lanes (/steward is interactive work)
            entries += await client.xrange(stream)
    finally:
        await client.aclose()
    return [Job.model_validate_json(fields["job"]) for _, fields in entries]


async def test_command_is_acknowledged_before_any_listener_runs(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    # No workers in this process: the acknowledgement cannot depend on anything a worker does.
    async with running_stack(redis_url, tmp_path, workers=0) as stack:
        sandbox = stack.sandbox
        delivery = await sandbox.user(EMPLOYEE).command("/steward", "help", channel=GENERAL)
        assert delivery.status == 200 and delivery.body == ""
        jobs = await queued_jobs(redis_url)
        assert [job.kind for job in jobs] == [KIND]
        queued = SlackRequest.model_validate(jobs[0].payload)
        assert "command=%2Fsteward" in queued.body and queued.content_type == FORM
        # Bolt did not run: the one call is serve's auth.test at start (the workspace served).
        assert [call.method for call in sandbox.calls()] == ["auth.test"]

        inbox.install(stack.runtime)
        stack.runtime.start_workers(1)
        reply = await sandbox.wait_for(
            lambda: [e for e in sandbox.ephemerals(user=EMPLOYEE) if "Steward help" in e.text]
        )
        assert len(reply) == 1 and reply[0].channel == GENERAL
        kinds = [job.kind for job in await queued_jobs(redis_url)]
        # One hop: the listener's job ran in the worker that replayed the request.
        assert kinds == [KIND]


async def test_a_queued_request_its_listener_cannot_read_is_answered_once_not_retried(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    # /summarize without a channel_id: the listener cannot read it. Issue 12 #2: the person is
    # told through the response_url, once, and the request is not retried (nor dead-lettered).
    quick = QueueConfig(visibility_timeout=VISIBILITY, max_attempts=2, block_ms=50)
    async with running_stack(redis_url, tmp_path, queue=quick) as stack:
        sandbox = stack.sandbox
        general = sandbox.workspace.resolve_channel(GENERAL)
        response_url = sandbox.user(EMPLOYEE).new_response_url(general)
        body = f"command=%2Fsummarize&text=6h&user_id={EMPLOYEE}&team_id=T0STEWARD"
        body += f"&response_url={response_url}"
        delivery = await sandbox.deliver_raw(body.encode(), FORM)
        assert delivery.status == 200
        told = await retrying(
            stack,
            lambda: [e for e in sandbox.ephemerals(user=EMPLOYEE) if "couldn't read" in e.text],
        )
        assert told[0].source == "response_url"
        redis = stack.runtime.services.redis

        async def settled() -> bool:  # the replay's job finished, and no retry is pending
            return await pending(redis) == 0

        await sandbox.wait_for(settled)
        assert await stack.runtime.queue.dead_letters() == []
        assert len([e for e in sandbox.ephemerals(user=EMPLOYEE) if "couldn't read" in e.text]) == 1


async def test_the_sender_of_a_queued_request_is_known(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    async with running_stack(redis_url, tmp_path) as stack:
        replayer = stack.runtime.services.inbox
        assert replayer is not None
        command = SlackRequest(
            body=COMMAND + "&response_url=https%3A%2F%2Fhooks.example%2Fr",
            content_type=FORM,
            received_at=0,
        )
        assert replayer.notify_of(command) == ReplyTo(
            user_id=EMPLOYEE, channel_id=GENERAL, response_url="https://hooks.example/r"
        )
        event = {"type": "event_callback", "event": {"type": "app_mention", "user": EMPLOYEE}}
        event["event"]["channel"] = GENERAL
        mention = SlackRequest(
            body=json.dumps(event), content_type="application/json", received_at=0
        )
        assert replayer.notify_of(mention) == ReplyTo(user_id=EMPLOYEE, channel_id=GENERAL)
        anonymous = SlackRequest(
            body=json.dumps({"type": "event_callback", "event": {"type": "team_join"}}),
            content_type="application/json",
            received_at=0,
        )
        assert replayer.notify_of(anonymous) is None


async def test_a_replayed_requests_job_that_fails_is_queued_for_a_retry(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    async with running_stack(redis_url, tmp_path) as stack:
        sandbox = stack.sandbox
        sandbox.faults.add("chat.postEphemeral", "error", times=1, error="fatal_error")
        await sandbox.user(EMPLOYEE).command("/steward", "help", channel=GENERAL)
        reply = await sandbox.wait_for(
            lambda: [e for e in sandbox.ephemerals(user=EMPLOYEE) if "Steward help" in e.text]
        )
        assert len(reply) == 1  # answered once, by the retry
        kinds = [job.kind for job in await queued_jobs(redis_url)]
        assert kinds == [KIND, "steward"]  # the failed inline run went to the stream
        assert [(f.method, f.kind) for f in sandbox.faults.fired] == [
            ("chat.postEphemeral", "error")
        ]
