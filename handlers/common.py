"""What every listener shares: turning a payload into a queued job, or a clear refusal."""

from __future__ import annotations

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
