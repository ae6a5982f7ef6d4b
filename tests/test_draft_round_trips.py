"""How many times an Approve click talks to Redis before the draft is posted, counted on the wire.

The stack is the real one (a signed HTTP click, the worker, the sandbox, a real Redis). One thing
is added, and it replaces none of our code: the services' Redis client gets a connection pool
whose connections are `CountingConnection`s, which note every request they send. One
`send_packed_command` is one round trip: a single command, a whole pipeline, or one EVALSHA.

Counted: every round trip sent while the click's job runs `run_approval_action` (found on the
sending coroutine's call stack), from its start until Slack has received the chat.postMessage
that posts the draft. Not counted: the connection handshake (SELECT, CLIENT SETINFO) of a
connection opened meanwhile, the queue's own bookkeeping around the job (done marker, attempt
counter, ack), and other tasks (the worker's XREADGROUP, the timer poller, heartbeats).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio import Connection

from app.drafts.approvals import ApprovalAction, run_approval_action
from tests import e2e
from tests.e2e import EMPLOYEE, LAUNCH, MANAGER, Stack
from tests.test_e2e_draft import posts, submitted, texts, until_event, write_policy

MAX_ROUND_TRIPS = 5


@dataclass(frozen=True)
class Sent:
    click: ApprovalAction | None  # the approval job it was sent for, None when another task
    commands: list[list[str]]  # the commands of this one round trip
    posted: int  # draft posts in LAUNCH that Slack had received when it was sent


def _decode(packed: Any) -> list[list[str]]:
    """The commands of a RESP request (arrays of bulk strings), each as its arguments."""
    chunks = packed if isinstance(packed, list | tuple) else [packed]
    data = b"".join(c.encode() if isinstance(c, str) else bytes(c) for c in chunks)
    commands: list[list[str]] = []
    pos = 0
    while pos < len(data):
        end = data.index(b"\r\n", pos)
        count, pos = int(data[pos + 1 : end]), end + 2
        args: list[str] = []
        for _ in range(count):
            end = data.index(b"\r\n", pos)
            size, pos = int(data[pos + 1 : end]), end + 2
            args.append(data[pos : pos + size].decode(errors="replace"))
            pos += size + 2
        commands.append(args)
    return commands


def _approval_job() -> ApprovalAction | None:
    """The click whose `run_approval_action` is on the current call stack, if any."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code is run_approval_action.__code__:
            req = frame.f_locals.get("req")
            return req if isinstance(req, ApprovalAction) else None
        frame = frame.f_back
    return None


def counting_connection(sent: list[Sent], posted: Callable[[], int]) -> type[Connection]:
    class CountingConnection(Connection):
        _handshaking = False

        async def on_connect(self) -> None:
            self._handshaking = True
            try:
                await super().on_connect()
            finally:
                self._handshaking = False

        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            if not self._handshaking:
                sent.append(Sent(_approval_job(), _decode(command), posted()))
            await super().send_packed_command(command, check_health)

    return CountingConnection


@asynccontextmanager
async def counting(stack: Stack, sent: list[Sent]) -> AsyncIterator[None]:
    """From here on the services' client sends through counting connections."""
    client: aioredis.Redis = stack.runtime.services.redis
    old = client.connection_pool
    assert isinstance(old, aioredis.BlockingConnectionPool)
    client.connection_pool = aioredis.BlockingConnectionPool(
        max_connections=old.max_connections,
        timeout=old.timeout,
        connection_class=counting_connection(sent, lambda: len(posts(stack.sandbox, LAUNCH))),
        **old.connection_kwargs,
    )
    try:
        yield
    finally:
        await old.disconnect(inuse_connections=False)


def describe(trips: list[Sent]) -> str:
    return "\n".join(
        f"  {n}. " + " | ".join(" ".join(a[:40] for a in c[:3]) for c in trip.commands)
        for n, trip in enumerate(trips, 1)
    )


async def test_an_approve_click_makes_at_most_five_round_trips_before_posting(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path)
    sent: list[Sent] = []
    async with e2e.running_stack(redis_url, tmp_path, steward_policy=str(policy)) as stack:
        sb = stack.sandbox
        interaction, request = await submitted(stack, "announce that the beta launch moves")
        async with counting(stack, sent):
            await sb.user(MANAGER).click("Approve", in_=request)
            await sb.wait_for(lambda: posts(sb, LAUNCH))
            await until_event(stack, interaction, "posted")
            await sb.wait_for(lambda: any("was posted in" in t for t in texts(sb, EMPLOYEE)))

    def of_the_click(s: Sent) -> bool:
        return s.click is not None and s.click.interaction_id == interaction

    before_post = [s for s in sent if of_the_click(s) and s.posted == 0]
    after_post = [s for s in sent if of_the_click(s) and s.posted > 0]
    assert len(posts(sb, LAUNCH)) == 1
    assert {s.click.action for s in sent if s.click is not None} == {"approve"}
    assert after_post  # the count saw the job go on past the post (posted_ts, audit, …)
    print(f"\nRedis round trips of the Approve before its post ({len(before_post)}):")
    print(describe(before_post))
    assert len(before_post) <= MAX_ROUND_TRIPS, describe(before_post)
    # The decision itself is among them: one atomic script on the draft's hash.
    assert any(
        c[0].upper() in ("EVALSHA", "EVAL") and f"steward:draft:{interaction}" in c
        for s in before_post
        for c in s.commands
    ), describe(before_post)
