"""The HTTP inbox (see app/runtime/inbox.py): acknowledge a slash command or event first, read
it later.

`FrontDoor` is serve's side: once the gate (handlers/gate.py) has verified and parsed a request,
queue it raw and answer 200 — no Bolt. Anything it does not take (interactivity,
url_verification, Redis down) goes through Bolt synchronously, so every listener's answer is
still Bolt's. `Replayer` is the worker's side: the same listeners, run by Bolt on the
queued request, with the acknowledgement's text (if any) sent to the command's response_url.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from app.runtime.inbox import KIND, SlackRequest
from app.runtime.keys import Lane
from app.runtime.process import Runtime
from app.runtime.queue import Job, JobQueue, QueueUnavailable
from app.slack.reply import ReplyTo
from handlers.bolt import build_bolt
from handlers.common import notify_of
from handlers.gate import Arrived

log = logging.getLogger(__name__)


def deferrable(body: str, content_type: str) -> bool:
    """A slash command or an Events API callback: requests whose answer need not be in the
    HTTP response (a command's text can go to its response_url; an event's answer is empty).

    A slash command is a form with a `command` field (an interaction is a form holding only
    `payload`; form values are URL-encoded, so "&command=" cannot occur inside one).
    """
    if content_type.startswith("application/json") or body.startswith("{"):
        try:
            envelope = json.loads(body)
        except ValueError:
            return False
        return isinstance(envelope, dict) and envelope.get("type") == "event_callback"
    return body.startswith("command=") or "&command=" in body


QUEUED_KINDS = frozenset({"command", "event"})  # queued raw; everything else runs Bolt now


def lane_of(body: str) -> Lane:
    """`/steward` (help, audit, policy, pause…) calls no model and someone waits on it: the
    interactive lane, so it is answered whatever the backlog of summaries and drafts. Every
    other deferred request (/summarize, /draft, events) goes in the normal lane."""
    return "interactive" if "command=%2Fsteward" in body.split("&") else "normal"


class FrontDoor:
    """Queue a request the gate admitted (handlers/gate.py: signed, well-formed, from the
    installed workspace), if it is one that may be answered before it is read."""

    def __init__(self, queue: JobQueue) -> None:
        self._queue = queue

    async def accept(
        self, arrived: Arrived, headers: Mapping[str, str], give_up_after: float | None = None
    ) -> bool:
        """True when the request was queued: answer 200 with an empty body.
        False: Bolt must handle it now. TimeoutError past `give_up_after` seconds."""
        if arrived.kind not in QUEUED_KINDS:
            return False
        request = SlackRequest(
            body=arrived.body,
            content_type=arrived.content_type,
            retry_num=headers.get("x-slack-retry-num"),
            retry_reason=headers.get("x-slack-retry-reason"),
            received_at=time.time(),
        )
        try:
            await self._queue.enqueue(
                KIND, request, lane=lane_of(arrived.body), give_up_after=give_up_after
            )
        except QueueUnavailable:
            return False
        return True


class Replayer:
    """Bolt, with our listeners, for requests the front door verified and queued.

    One hop: the job a listener queues is collected (`JobQueue.collecting`) and run here, in the
    worker that replayed the request, as Socket Mode does; only if that run fails is it queued
    for the workers to retry."""

    def __init__(self, runtime: Runtime) -> None:
        self._bolt = build_bolt(runtime, verified_upstream=True)
        self._slack = runtime.services.slack
        self._queue = runtime.queue
        self._handle = runtime.handle

    async def replay(self, request: SlackRequest) -> None:
        bolt_request = AsyncBoltRequest(body=request.body, headers=request.headers())
        with self._queue.collecting() as queued:
            response = await self._bolt.async_dispatch(bolt_request)
        if response.status >= 500:  # e.g. Redis refused the job: try again later, like Slack
            raise ReplayFailed(f"the listeners answered HTTP {response.status}")
        if response.status == 200 and response.body:
            await self._answer(bolt_request.body, response)
        for job in queued:
            await self._run_here(job)

    async def _run_here(self, job: Job) -> None:
        try:
            await self._handle(job)
        except Exception as exc:
            log.warning(
                "a replayed request's job failed; queued for the workers to retry",
                extra={"job_id": job.id, "kind": job.kind, "error": type(exc).__name__},
            )
            await self._queue.requeue(job)

    async def _answer(self, payload: dict[str, Any], response: BoltResponse) -> None:
        """What the listener put in its acknowledgement, shown the way Slack would show it."""
        response_url = payload.get("response_url")
        if not response_url:
            log.warning("acknowledgement text with nowhere to send it dropped")
            return
        answer: Any = response.body
        if answer.startswith("{"):
            answer = json.loads(answer)
        if not isinstance(answer, dict):
            answer = {"text": str(answer)}
        await self._slack.respond(
            response_url,
            str(answer.get("text") or ""),
            answer.get("blocks"),
            in_channel=answer.get("response_type") == "in_channel",
        )

    def notify_of(self, request: SlackRequest) -> ReplyTo | None:
        payload = AsyncBoltRequest(body=request.body, headers=request.headers()).body
        event = payload.get("event")
        if isinstance(event, dict):
            user = event.get("user")
            return ReplyTo(user_id=user, channel_id=event.get("channel")) if user else None
        notify = notify_of(payload)
        return notify if notify.user_id else None


class ReplayFailed(Exception):
    """The listeners could not take a queued request; the worker retries it."""


def install(runtime: Runtime) -> None:
    """Let this process's workers run queued Slack requests. Safe to call twice."""
    if runtime.services.inbox is None:
        runtime.services.inbox = Replayer(runtime)
