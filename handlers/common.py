"""What every listener shares: turning a payload into a queued job, or a clear refusal."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from slack_bolt.async_app import AsyncAck, AsyncRespond

from app.jobs import kind_of
from app.runtime.keys import Lane
from app.runtime.queue import JobQueue, QueueUnavailable
from app.slack.reply import ReplyTo

UNAVAILABLE = (
    ":warning: Steward can't reach its database right now, so it could not take your request. "
    "Nothing was done — please try again in a minute."
)


async def submit(
    queue: JobQueue,
    payload: BaseModel,
    *,
    notify: ReplyTo | None = None,
    dedupe_key: str | None = None,
    lane: Lane = "normal",
) -> str | None:
    """Queue the job for `payload` on `lane`: "interactive" for a click, a modal or a decision
    that calls no model (it must not wait behind model jobs: a trigger_id lasts 3 s), else
    "normal". Raises QueueUnavailable when Redis does not take it."""
    return await queue.enqueue(
        kind_of(payload), payload, dedupe_key=dedupe_key, notify=notify, lane=lane
    )


def team_of(body: dict[str, Any]) -> str:
    """The workspace a payload comes from, whatever its shape."""
    team = body.get("team")
    if isinstance(team, dict):
        return str(team.get("id", ""))
    return str(body.get("team_id") or team or "")


def user_of(body: dict[str, Any]) -> str:
    user = body.get("user")
    if isinstance(user, dict):
        return str(user.get("id", ""))
    return str(body.get("user_id") or user or "")


def channel_of(body: dict[str, Any]) -> str | None:
    channel = body.get("channel")
    if isinstance(channel, dict):
        return channel.get("id")
    container = body.get("container") or {}
    return body.get("channel_id") or container.get("channel_id")


def notify_of(body: dict[str, Any]) -> ReplyTo:
    return ReplyTo(
        user_id=user_of(body),
        channel_id=channel_of(body),
        response_url=body.get("response_url"),
    )


async def submit_command(
    queue: JobQueue, ack: AsyncAck, body: dict[str, Any], job: BaseModel, *, lane: Lane = "normal"
) -> None:
    """Queue a slash command's job, then ack; if Redis is down, the ack itself says so."""
    try:
        await submit(queue, job, notify=notify_of(body), dedupe_key=replay_key(body), lane=lane)
    except QueueUnavailable:
        await ack(text=UNAVAILABLE)
        return
    await ack()


async def submit_click(
    queue: JobQueue,
    body: dict[str, Any],
    job: BaseModel,
    respond: AsyncRespond,
    *,
    lane: Lane = "normal",
) -> None:
    """Queue a click's or shortcut's job (already acked); if Redis is down, say so privately."""
    try:
        await submit(queue, job, notify=notify_of(body), dedupe_key=replay_key(body), lane=lane)
    except QueueUnavailable:
        await respond(text=UNAVAILABLE, response_type="ephemeral", replace_original=False)


async def submit_modal(
    queue: JobQueue,
    ack: AsyncAck,
    body: dict[str, Any],
    job: BaseModel,
    block_id: str,
    *,
    lane: Lane = "interactive",
) -> None:
    """Queue a modal submission's job, then close the modal; if Redis is down, keep it open
    (with what was typed) and say so on `block_id`. Modals are interactive work."""
    try:
        await submit(queue, job, notify=notify_of(body), dedupe_key=replay_key(body), lane=lane)
    except QueueUnavailable:
        await ack(response_action="errors", errors={block_id: UNAVAILABLE[:150]})
        return
    await ack()


def click_fields(body: dict[str, Any]) -> dict[str, Any]:
    """Who clicked which interaction's button (the button's value is the interaction id)."""
    return {
        "interaction_id": body["actions"][0].get("value", ""),
        "user_id": user_of(body),
        "team_id": team_of(body),
        "trigger_id": body.get("trigger_id"),
        "channel_id": channel_of(body),
        "response_url": body.get("response_url"),
    }


def shortcut_thread(body: dict[str, Any]) -> tuple[str, str, str | None]:
    """A message shortcut's channel, the thread it belongs to (a lone message is a thread of
    one), and the thread to answer in (None for a top-level message)."""
    message = body.get("message") or {}
    return (
        body["channel"]["id"],
        message.get("thread_ts") or message["ts"],
        message.get("thread_ts"),
    )


def replay_key(body: dict[str, Any]) -> str | None:
    """What makes a replayed request (the same signed body sent again within Slack's 5-minute
    window) the same interaction: Slack issues a fresh trigger_id for every command, click,
    shortcut and submission; a click without one is known by its action_ts. The queue drops
    a job whose key it has seen (JobQueue.enqueue)."""
    trigger = body.get("trigger_id")
    if "command" in body:
        return f"command:{trigger}" if trigger else None
    if trigger:
        return f"{body.get('type') or 'interaction'}:{trigger}"
    actions = body.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        action_ts = actions[0].get("action_ts")
        if action_ts:
            return f"action:{user_of(body)}:{actions[0].get('action_id')}:{action_ts}"
    return None
