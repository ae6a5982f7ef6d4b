"""The agent pane's listeners: the pane opened (`app_home_opened`, tab messages), what the
person views changed (`app_context_changed`), a message typed or a prompt clicked in the pane
(`message.im`), and the feedback buttons. Each becomes one job; Slack's retries of an event
carry the same event_id and are dropped by the queue's dedupe, so one message gets one answer.

Sources: docs.slack.dev/ai/migrating-to-agent-messaging (`if event.get("tab") == "messages"`,
each DM message a thread root); docs.slack.dev/reference/events/app_context_changed.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from app.audit.feedback import FeedbackRequest
from app.pane.context import entities_in_view
from app.pane.conversation import PaneContext, PaneMessage, PaneOpened
from app.pane.render import FEEDBACK_ACTION
from app.runtime.queue import JobQueue
from app.slack.reply import ReplyTo
from handlers.common import click_fields, submit, submit_click


def _event_id(body: dict[str, Any]) -> str | None:
    event_id = body.get("event_id")
    return f"event:{event_id}" if event_id else None


def _person(event: dict[str, Any], body: dict[str, Any]) -> str:
    """Who the event is about. app_context_changed's reference example has no `user`; then the
    human in `authorizations` (the example's is_bot: false entry) is the one."""
    if event.get("user"):
        return str(event["user"])
    for auth in body.get("authorizations") or []:
        if not auth.get("is_bot") and auth.get("user_id"):
            return str(auth["user_id"])
    return ""


def _when(event: dict[str, Any], body: dict[str, Any]) -> float:
    """The event's time: `event_ts` when given, else the envelope's `event_time`."""
    try:
        return float(event.get("event_ts") or body.get("event_time") or 0)
    except (TypeError, ValueError):
        return 0.0


async def _messages_tab(event: dict[str, Any]) -> bool:
    return event.get("tab") == "messages"


async def _typed_in_pane(event: dict[str, Any]) -> bool:
    return (
        event.get("channel_type") == "im" and not event.get("bot_id") and not event.get("subtype")
    )


def register(app: AsyncApp, queue: JobQueue) -> None:
    # Registered before handlers/events.py: bolt-python runs the first listener that matches.

    @app.event("app_home_opened", matchers=[_messages_tab])
    async def pane_opened(event: dict[str, Any], body: dict[str, Any]) -> None:
        job = PaneOpened(
            team_id=body.get("team_id", ""), user_id=event["user"], channel_id=event["channel"]
        )
        await submit(queue, job, dedupe_key=_event_id(body), lane="interactive")

    @app.event("app_context_changed")
    async def context_changed(event: dict[str, Any], body: dict[str, Any]) -> None:
        user = _person(event, body)
        if not user:
            return
        channel, thread = entities_in_view(event.get("context") or {})
        job = PaneContext(
            team_id=body.get("team_id", ""),
            user_id=user,
            channel_id=channel,
            thread_ts=thread,
            event_ts=_when(event, body),
        )
        await submit(queue, job, dedupe_key=_event_id(body), lane="interactive")

    @app.event("message", matchers=[_typed_in_pane])
    async def typed(event: dict[str, Any], body: dict[str, Any]) -> None:
        job = PaneMessage(
            team_id=body.get("team_id", ""),
            user_id=event["user"],
            channel_id=event["channel"],
            ts=event["ts"],
            thread_ts=event.get("thread_ts"),
            text=event.get("text", ""),
        )
        notify = ReplyTo(user_id=event["user"], channel_id=event["channel"])
        await submit(queue, job, notify=notify, dedupe_key=_event_id(body))

    @app.action(FEEDBACK_ACTION)
    async def rated(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        verdict, _, interaction = str(body["actions"][0].get("value", "")).partition(":")
        fields = {**click_fields(body), "interaction_id": interaction}
        job = FeedbackRequest(verdict="up" if verdict == "up" else "down", **fields)
        await submit_click(queue, body, job, respond, lane="interactive")
