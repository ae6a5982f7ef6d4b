"""serve's front door under hostile input (issue 12 #1, #2, #7, #16): signed and unsigned HTTP
into the real app, the strict sandbox as Slack, a real Redis. Nothing of ours is mocked."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from app.runtime.keys import STREAM, STREAMS
from tests.e2e import EMPLOYEE, GENERAL, SECRET, Stack, running_stack

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MARKER = "BODY-TEXT-MUST-NOT-BE-LOGGED"
LIMIT = 64 * 1024  # a small STEWARD_MAX_BODY_BYTES keeps the oversized bodies cheap to send


@pytest.fixture
async def stack(redis_url: str, redis_sync: object, tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(redis_url, tmp_path, steward_max_body_bytes=LIMIT) as running:
        yield running


async def metric(stack: Stack, name: str, **labels: str) -> float:
    async with (
        aiohttp.ClientSession() as session,
        session.get(stack.server.url + "/metrics") as response,
    ):
        text = await response.text()
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    prefix = f"{name}{{{wanted}}}" if labels else name
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


class Counted:
    """How much a metric grew while the block ran (the registry is the process's, shared by
    every test in it)."""

    def __init__(self, stack: Stack, name: str, **labels: str) -> None:
        self.stack, self.name, self.labels = stack, name, labels
        self.start = 0.0

    async def __aenter__(self) -> Counted:
        self.start = await metric(self.stack, self.name, **self.labels)
        return self

    async def __aexit__(self, *_: object) -> None:
        pass

    async def grew(self) -> float:
        return await metric(self.stack, self.name, **self.labels) - self.start


def signed(body: bytes, timestamp: str) -> str:
    """Slack's signature over raw bytes (which need not be UTF-8)."""
    digest = hmac.new(SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    return "v0=" + digest.hexdigest()


async def queued(stack: Stack) -> int:
    return int(await stack.runtime.services.redis.xlen(STREAM))


async def help_still_answered(stack: Stack) -> None:
    sandbox = stack.sandbox
    delivery = await sandbox.user(EMPLOYEE).command("/steward", "help", channel=GENERAL)
    assert delivery.status == 200
    await sandbox.wait_for(
        lambda: [e for e in sandbox.ephemerals(user=EMPLOYEE) if "help" in e.text]
    )


def command_form(**extra: str) -> dict[str, str]:
    form = {
        "token": "x",
        "team_id": "T0STEWARD",
        "team_domain": "acme",
        "channel_id": GENERAL,
        "user_id": EMPLOYEE,
        "command": "/summarize",
        "text": "6h",
        "response_url": "http://127.0.0.1:9/unused",
        "trigger_id": "1.2.trigger",
    }
    form.update(extra)
    return form


def interaction(payload: Any) -> bytes:
    return urlencode(
        {"payload": payload if isinstance(payload, str) else json.dumps(payload)}
    ).encode()


def click(**extra: Any) -> dict[str, Any]:
    payload = {
        "type": "block_actions",
        "team": {"id": "T0STEWARD", "domain": "acme"},
        "user": {"id": EMPLOYEE, "team_id": "T0STEWARD"},
        "channel": {"id": GENERAL},
        "trigger_id": "1.2.click",
        "response_url": "http://127.0.0.1:9/unused",
        "note": MARKER,
        "actions": [{"action_id": "summary_share", "value": "i-1", "action_ts": "1.2"}],
    }
    payload.update(extra)
    return payload


# ---------------------------------------------------------------- 1. oversized bodies


@pytest.mark.parametrize("signing", ["valid", "unsigned"])
async def test_oversized_body_is_refused_with_413_counted_and_the_app_still_answers(
    stack: Stack, signing: str
) -> None:
    body = b"command=%2Fsteward&text=" + b"a" * (LIMIT + 1)
    async with Counted(stack, "steward_rejected_requests_total", reason="too_large") as counted:
        delivery = await stack.sandbox.deliver_raw(body, FORM, signing=signing)  # type: ignore[arg-type]
    assert delivery.status == 413
    assert await counted.grew() == 1
    assert await queued(stack) == 0
    await help_still_answered(stack)


async def test_oversized_chunked_body_without_content_length_is_refused_while_streaming(
    stack: Stack,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):  # 4 MiB in all, far past the limit; the app stops reading early
            yield b"x" * 65536

    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": FORM,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": "v0=" + "0" * 64,
    }
    counted = await Counted(
        stack, "steward_rejected_requests_total", reason="too_large"
    ).__aenter__()
    async with aiohttp.ClientSession() as session:
        try:
            async with session.post(stack.events_url, data=chunks(), headers=headers) as response:
                status = response.status
        except aiohttp.ClientError:  # the app may close the connection while we still send
            status = 413
    assert status == 413
    assert await counted.grew() == 1
    await help_still_answered(stack)


# ---------------------------------------------------------------- 2. malformed requests

DEEP_1K = '{"a":' * 1000 + "1" + "}" * 1000
DEEP_100K = "[" * 100_000 + "]" * 100_000
MENTION = {"type": "event_callback", "team_id": "T0STEWARD", "event_id": "Ev1", "event": MARKER}

MALFORMED: dict[str, tuple[bytes, str, dict[str, str]]] = {
    "timestamp abc": (urlencode(command_form(text=MARKER)).encode(), FORM, {"ts": "abc"}),
    "timestamp 1e9": (urlencode(command_form(text=MARKER)).encode(), FORM, {"ts": "1e9"}),
    "timestamp NaN": (urlencode(command_form(text=MARKER)).encode(), FORM, {"ts": "NaN"}),
    "timestamp empty": (urlencode(command_form(text=MARKER)).encode(), FORM, {"ts": ""}),
    "not utf-8": (b"command=%2Fsteward&text=\xff\xfe" + MARKER.encode(), FORM, {}),
    "form body, json type": (urlencode(command_form(text=MARKER)).encode(), JSON, {}),
    "invalid json": (b'{"type": "event_callback", "' + MARKER.encode(), JSON, {}),
    "json array": (json.dumps([MARKER]).encode(), JSON, {}),
    "event not an object": (json.dumps(MENTION).encode(), JSON, {}),
    "payload not json": (interaction(MARKER), FORM, {}),
    "payload a json array": (interaction([MARKER]), FORM, {}),
    "json nested 1,000 deep": (DEEP_1K.replace("1", json.dumps(MARKER), 1).encode(), JSON, {}),
    "json nested 100,000 deep": (DEEP_100K.encode(), JSON, {}),
    "payload nested 1,000 deep": (interaction(DEEP_1K), FORM, {}),
    "payload nested 100,000 deep": (interaction(DEEP_100K), FORM, {}),
    "actions empty": (interaction(click(actions=[])), FORM, {}),
    "actions not a list": (interaction(click(actions=MARKER)), FORM, {}),
    "action value not text": (
        interaction(click(actions=[{"action_id": "summary_share", "value": 7}])),
        FORM,
        {},
    ),
    "message_action without message": (
        interaction(
            {
                "type": "message_action",
                "callback_id": "summarize_thread",
                "team": {"id": "T0STEWARD"},
                "user": {"id": EMPLOYEE},
                "channel": {"id": GENERAL},
                "trigger_id": "1.2.shortcut",
                "note": MARKER,
            }
        ),
        FORM,
        {},
    ),
    "a form that is no slack request": (urlencode({"note": MARKER}).encode(), FORM, {}),
    "text/plain": (MARKER.encode(), "text/plain", {}),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_request_is_a_4xx_counted_logged_once_without_its_body(
    stack: Stack, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    body, content_type, broken = MALFORMED[case]
    now = str(int(time.time()))
    headers = {
        "X-Slack-Request-Timestamp": broken.get("ts", now),
        "X-Slack-Signature": signed(body, now),
    }
    counted = await Counted(stack, "steward_rejected_requests_total").__aenter__()
    with caplog.at_level(logging.DEBUG):
        delivery = await stack.sandbox.deliver_raw(
            body, content_type, signing="unsigned", headers=headers
        )
    assert 400 <= delivery.status < 500, (case, delivery.status)
    assert MARKER not in delivery.body
    assert await counted.grew() == 1
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 1
    for record in caplog.records:
        assert MARKER not in record.getMessage() and MARKER not in json.dumps(
            record.__dict__, default=str
        )
        if record.name.startswith(("app", "handlers", "slack_bolt", "uvicorn")):
            assert record.exc_info is None, record.getMessage()  # no traceback of ours
    assert await queued(stack) == 0  # no job, nothing for a worker to retry
    await help_still_answered(stack)


async def test_a_signed_command_its_listener_cannot_read_is_answered_not_failed(
    stack: Stack,
) -> None:
    # Parsed by the gate, refused by the listener (no channel_id): an acknowledged no-op that
    # says so, never a 500.
    form = command_form()
    del form["channel_id"]
    form["command"] = "/draft"
    form["text"] = "announce the launch"
    general = stack.sandbox.workspace.resolve_channel(GENERAL)
    form["response_url"] = stack.sandbox.user(EMPLOYEE).new_response_url(general)
    counted = await Counted(
        stack, "steward_rejected_requests_total", reason="listener"
    ).__aenter__()
    delivery = await stack.sandbox.deliver_raw(urlencode(form).encode(), FORM)
    assert delivery.status == 200
    sandbox = stack.sandbox
    await sandbox.wait_for(
        lambda: [e for e in sandbox.ephemerals(user=EMPLOYEE) if "couldn't read" in e.text]
    )
    assert await counted.grew() == 1
    assert await stack.runtime.queue.dead_letters() == []


# ---------------------------------------------------------------- 7. foreign workspaces


async def test_a_foreign_workspace_is_refused_before_any_work(stack: Stack) -> None:
    sandbox = stack.sandbox
    redis = stack.runtime.services.redis

    async def workers_ready() -> bool:  # their streams are made at start, not by a request
        return bool(await redis.exists(*STREAMS.values()) == len(STREAMS))

    await sandbox.wait_for(workers_ready)
    before = set(await redis.keys("*"))
    counted = await Counted(
        stack, "steward_rejected_requests_total", reason="foreign_workspace"
    ).__aenter__()
    command = await sandbox.deliver_raw(
        urlencode(command_form(team_id="TEVIL", text="6h")).encode(), FORM
    )
    assert command.status == 200
    assert "isn't installed in this workspace" in command.json()["text"]
    share = await sandbox.deliver_raw(
        interaction(click(team={"id": "TEVIL"}, user={"id": EMPLOYEE, "team_id": "TEVIL"})), FORM
    )
    assert share.status == 200 and share.body == ""
    event = {
        "type": "event_callback",
        "team_id": "TEVIL",
        "event_id": "EvEVIL",
        "event": {"type": "app_mention", "user": EMPLOYEE, "channel": GENERAL, "text": "summarize"},
    }
    mention = await sandbox.deliver_raw(json.dumps(event).encode(), JSON)
    assert mention.status == 200
    assert await counted.grew() == 3
    # No job, no audit event, no budget counter, no dedupe claim: Redis is as it was (but for
    # the locks of the process's own background duties).
    added = {key for key in set(await redis.keys("*")) - before if not key.endswith(":lock")}
    assert added == set()
    assert await queued(stack) == 0
    assert [e async for e in stack.runtime.services.audit.export()] == []
    assert [c.method for c in sandbox.calls()] == ["auth.test"]  # at start, nothing since
    await help_still_answered(stack)


# ---------------------------------------------------------------- 16. a Redis that stalls


class StallingProxy:
    """A TCP proxy in front of the test's own Redis that can stop passing bytes, as a Redis
    that takes forever to answer would."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.flowing = asyncio.Event()
        self.flowing.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> StallingProxy:
        self._server = await asyncio.start_server(self._connected, "127.0.0.1", 0)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/0"

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                await self.flowing.wait()
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                sink.close()


async def test_a_stalled_redis_fails_healthz_and_does_not_hold_the_ack(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    async with StallingProxy(port) as proxy, running_stack(proxy.url, tmp_path) as stack:
        timeout = aiohttp.ClientTimeout(total=30)  # a hang guard, not a timing assertion
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(stack.server.url + "/healthz") as response:
                assert response.status == 200
            proxy.flowing.clear()  # from here on Redis never answers
            try:
                async with session.get(stack.server.url + "/healthz") as response:
                    assert response.status == 503
                # A command is answered even though its job cannot be queued: it says so.
                delivery = await stack.sandbox.deliver_raw(
                    urlencode(command_form(command="/steward", text="help")).encode(), FORM
                )
                assert delivery.status == 200
                assert "database" in delivery.json()["text"]
            finally:
                proxy.flowing.set()
            async with session.get(stack.server.url + "/healthz") as response:
                assert response.status == 200


# ---------------------------------------------------------------- the bare ASGI path


async def test_only_a_post_reaches_the_events_endpoint(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session, session.get(stack.events_url) as response:
        assert response.status == 405
        assert response.headers["allow"] == "POST"
    assert await queued(stack) == 0


async def test_a_peer_gone_before_its_body_arrived_is_counted_and_nothing_is_queued(
    stack: Stack,
) -> None:
    body = urlencode(command_form(command="/steward", text="help")).encode()
    timestamp = str(int(time.time()))
    host, port = stack.server.url.removeprefix("http://").split(":")
    head = (
        f"POST /slack/events HTTP/1.1\r\nHost: {host}\r\nContent-Type: {FORM}\r\n"
        f"Content-Length: {len(body)}\r\nX-Slack-Request-Timestamp: {timestamp}\r\n"
        f"X-Slack-Signature: {signed(body, timestamp)}\r\n\r\n"
    ).encode()
    gone = await Counted(
        stack, "steward_rejected_requests_total", reason="disconnected"
    ).__aenter__()
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(head + body[: len(body) // 2])  # half the body, then hang up
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    for _ in range(500):  # until the app has seen the hang-up (bounded: 10 s)
        if await gone.grew():
            break
        await asyncio.sleep(0.02)
    assert await gone.grew() == 1
    assert await queued(stack) == 0
    await help_still_answered(stack)
