"""Events API: App Home and mentions (DMs belong to the agent pane: handlers/pane.py). Slack
retries an event it thinks we missed, with the same event_id: the queue drops the duplicate, so
each event is processed once."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from slack_bolt.async_app import AsyncApp

from app.drafts.draft import DraftRequest
from app.jobs import HelpRequest, HomeRequest
from app.runtime.queue import JobQueue
from app.slack.reply import ReplyTo
from app.summaries.summarize import SummarizeRequest
from app.summaries.targets import DEFAULT_WINDOW, Target
from handlers.common import submit

MENTION = re.compile(r"<@[A-Z0-9]+>")
SUMMARIZE_WORDS = {"summarize", "summarise", "summary", "tldr", "tl;dr"}


def _event_id(body: dict[str, Any]) -> str | None:
    event_id = body.get("event_id")
    return f"event:{event_id}" if event_id else None


def mention_job(event: dict[str, Any], team_id: str) -> BaseModel:
    """What "@Steward …" asks for: a summary of this thread / channel, or help."""
    words = MENTION.sub(" ", event.get("text", "")).split()
    command = words[0].lower().strip(".,!?:") if words else "help"
    channel, thread_ts = event["channel"], event.get("thread_ts")
    if command in SUMMARIZE_WORDS:
        target = (
            Target(channel_id=channel, thread_ts=thread_ts)
            if thread_ts
            else Target(channel_id=channel, window_seconds=int(DEFAULT_WINDOW.total_seconds()))
        )
        return SummarizeRequest(
            team_id=team_id,
            user_id=event["user"],
            target=target,
            trigger="mention",
            reply_channel=channel,
            reply_thread_ts=thread_ts,
        )
    if command == "draft" and len(words) > 1:
        return DraftRequest(
            team_id=team_id,
            user_id=event["user"],
            what=" ".join(words[1:]),
            channel_id=channel,
            thread_ts=thread_ts,
            trigger="mention",
            reply_channel=channel,
            reply_thread_ts=thread_ts,
        )
    note = None if command == "help" else f"I don't know how to `{command[:40]}` yet."
    return HelpRequest(
        team_id=team_id, user_id=event["user"], channel_id=channel, thread_ts=thread_ts, note=note
    )


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
        job = mention_job(event, body.get("team_id", ""))
        notify = ReplyTo(user_id=event["user"], channel_id=event["channel"])
        await submit(queue, job, notify=notify, dedupe_key=_event_id(body))
