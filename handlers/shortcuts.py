"""Message shortcuts: Summarize thread (and, with the draft feature, Draft a reply)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from app.queue import JobQueue, QueueUnavailable
from app.summarize import SummarizeRequest
from app.targets import Target
from handlers.common import UNAVAILABLE, notify_of, submit, team_of, user_of


def register(app: AsyncApp, queue: JobQueue) -> None:
    @app.shortcut("summarize_thread")
    async def summarize_thread(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        message = body.get("message") or {}
        channel = body["channel"]["id"]
        # A reply's thread is its parent's; a lone message is a thread of one.
        thread_ts = message.get("thread_ts") or message["ts"]
        job = SummarizeRequest(
            team_id=team_of(body),
            user_id=user_of(body),
            target=Target(channel_id=channel, thread_ts=thread_ts),
            trigger="shortcut",
            reply_channel=channel,
            reply_thread_ts=message.get("thread_ts"),
            response_url=body.get("response_url"),
        )
        try:
            await submit(queue, job, notify=notify_of(body))
        except QueueUnavailable:
            await respond(text=UNAVAILABLE, response_type="ephemeral")
