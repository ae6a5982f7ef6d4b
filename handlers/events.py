"""Events API: App Home, mentions and DMs. Slack retries an event it thinks we missed, with the
same event_id: the queue drops the duplicate, so each event is processed once."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp

from app.jobs import HelpRequest, HomeRequest
from app.queue import JobQueue, Notify
from handlers.common import submit

MENTION = re.compile(r"<@[A-Z0-9]+>")


def _event_id(body: dict[str, Any]) -> str | None:
    event_id = body.get("event_id")
    return f"event:{event_id}" if event_id else None


def register(app: AsyncApp, queue: JobQueue) -> None:
    # A QueueUnavailable raised here becomes an HTTP 500, so Slack redelivers the event later:
    # events are never dropped silently.

    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        req = HomeRequest(team_id=body.get("team_id", ""), user_id=event["user"])
        await submit(queue, req, dedupe_key=_event_id(body))

    @app.event("app_mention")
    async def mentioned(event: dict[str, Any], body: dict[str, Any]) -> None:
        words = MENTION.sub(" ", event.get("text", "")).split()
        command = words[0].lower() if words else "help"
        note = None if command == "help" else f"I don't know how to `{command[:40]}` yet."
        req = HelpRequest(
            team_id=body.get("team_id", ""),
            user_id=event["user"],
            channel_id=event["channel"],
            thread_ts=event.get("thread_ts"),
            note=note,
        )
        notify = Notify(user_id=event["user"], channel_id=event["channel"])
        await submit(queue, req, notify=notify, dedupe_key=_event_id(body))

    @app.event("message")
    async def direct_message(event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("channel_type") != "im" or event.get("bot_id") or event.get("subtype"):
            return
        req = HelpRequest(
            team_id=body.get("team_id", ""), user_id=event["user"], channel_id=event["channel"]
        )
        notify = Notify(user_id=event["user"], channel_id=event["channel"])
        await submit(queue, req, notify=notify, dedupe_key=_event_id(body))
