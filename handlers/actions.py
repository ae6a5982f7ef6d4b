"""Button clicks. Each becomes a job; permissions are checked by the job, on the server."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from app.feedback import FeedbackRequest
from app.queue import JobQueue, QueueUnavailable
from app.summarize import ShareRequest
from app.trace import WhyRequest
from handlers.common import UNAVAILABLE, channel_of, notify_of, submit, team_of, user_of


def _who(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "interaction_id": body["actions"][0].get("value", ""),
        "user_id": user_of(body),
        "team_id": team_of(body),
        "channel_id": channel_of(body),
        "response_url": body.get("response_url"),
    }


def register(app: AsyncApp, queue: JobQueue) -> None:
    async def queue_click(job: Any, body: dict[str, Any], respond: AsyncRespond) -> None:
        try:
            await submit(queue, job, notify=notify_of(body))
        except QueueUnavailable:
            await respond(text=UNAVAILABLE, response_type="ephemeral", replace_original=False)

    @app.action("summary_share")
    async def share(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await queue_click(ShareRequest(**_who(body)), body, respond)

    @app.action("why")
    async def why(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await queue_click(WhyRequest(trigger_id=body["trigger_id"], **_who(body)), body, respond)

    @app.action("feedback_up")
    async def thumbs_up(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await queue_click(FeedbackRequest(verdict="up", **_who(body)), body, respond)

    @app.action("feedback_down")
    async def thumbs_down(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await queue_click(FeedbackRequest(verdict="down", **_who(body)), body, respond)
