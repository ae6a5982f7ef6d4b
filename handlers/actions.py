"""Button clicks. Each becomes a job; permissions are checked by the job, on the server."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from app.audit.feedback import FeedbackRequest
from app.audit.trace import WhyRequest
from app.runtime.queue import JobQueue
from app.summaries.summarize import ShareRequest
from handlers.common import click_fields, submit_click


def register(app: AsyncApp, queue: JobQueue) -> None:
    @app.action("summary_share")
    async def share(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await submit_click(
            queue, body, ShareRequest(**click_fields(body)), respond, lane="interactive"
        )

    @app.action("why")
    async def why(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await submit_click(
            queue, body, WhyRequest(**click_fields(body)), respond, lane="interactive"
        )

    @app.action("feedback_up")
    async def thumbs_up(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await submit_click(
            queue,
            body,
            FeedbackRequest(verdict="up", **click_fields(body)),
            respond,
            lane="interactive",
        )

    @app.action("feedback_down")
    async def thumbs_down(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await submit_click(
            queue,
            body,
            FeedbackRequest(verdict="down", **click_fields(body)),
            respond,
            lane="interactive",
        )
