"""What every listener shares: turning a payload into a queued job, or a clear refusal."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from app.jobs import kind_of
from app.queue import JobQueue, Notify

UNAVAILABLE = (
    ":warning: Steward can't reach its database right now, so it could not take your request. "
    "Nothing was done — please try again in a minute."
)


async def submit(
    queue: JobQueue,
    payload: BaseModel,
    *,
    notify: Notify | None = None,
    dedupe_key: str | None = None,
) -> str | None:
    """Queue the job for `payload`. Raises QueueUnavailable when Redis does not take it."""
    return await queue.enqueue(kind_of(payload), payload, dedupe_key=dedupe_key, notify=notify)


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


def notify_of(body: dict[str, Any]) -> Notify:
    return Notify(
        user_id=user_of(body),
        channel_id=channel_of(body),
        response_url=body.get("response_url"),
    )
