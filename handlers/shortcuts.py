"""Message shortcuts: Summarize thread (and, with the draft feature, Draft a reply)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from app.runtime.queue import JobQueue
from app.summaries.summarize import SummarizeRequest
from app.summaries.targets import Target
from handlers.common import shortcut_thread, submit_click, team_of, user_of


def register(app: AsyncApp, queue: JobQueue) -> None:
    @app.shortcut("summarize_thread")
    async def summarize_thread(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        channel, thread_ts, reply_thread_ts = shortcut_thread(body)
        job = SummarizeRequest(
            team_id=team_of(body),
            user_id=user_of(body),
            target=Target(channel_id=channel, thread_ts=thread_ts),
            trigger="shortcut",
            reply_channel=channel,
            reply_thread_ts=reply_thread_ts,
            response_url=body.get("response_url"),
        )
        await submit_click(queue, body, job, respond)
