"""Delivering the private result of a finished job (a summary, a draft), retried on its own.

The work behind a result (reading, the model, the budget, the `generated` audit event) is done
once; showing it to the person is a separate step that may fail (Slack answers 500, the
response_url is busy). `deliver` stores the rendered message under the interaction before it
sends it, and raises the `SlackError` when sending fails, so the queue retries the job. The
re-run starts with `resume`, which finds the stored message and only sends it again: one
`requested`, one `generated`, one budget reservation, and the person sees the result once.

Keys (`steward:delivery:ID` the message still to send, `steward:delivered:ID` once it went out)
expire after a day, like the queue's own done marks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from pydantic import BaseModel

from app.slack.port import SlackPort
from app.slack.reply import ReplyTo

DELIVERY_TTL_S = 24 * 3600


def pending_key(interaction_id: str) -> str:
    return f"steward:delivery:{interaction_id}"


def done_key(interaction_id: str) -> str:
    return f"steward:delivered:{interaction_id}"


class Delivery(BaseModel):
    """A rendered private message waiting to be shown."""

    to: ReplyTo
    text: str
    blocks: list[dict[str, Any]] = []


async def deliver(
    redis: aioredis.Redis,
    slack: SlackPort,
    interaction_id: str,
    to: ReplyTo,
    text: str,
    blocks: Sequence[dict[str, Any]] | None = None,
) -> None:
    """Keep the message, then show it; a `SlackError` leaves it kept for `resume`."""
    pending = Delivery(to=to, text=text, blocks=list(blocks or []))
    await redis.set(pending_key(interaction_id), pending.model_dump_json(), ex=DELIVERY_TTL_S)
    await _send(redis, slack, interaction_id, pending)


async def resume(redis: aioredis.Redis, slack: SlackPort, interaction_id: str) -> bool:
    """True when this interaction's result was already made: shown again now if it never got
    out, or shown before. False when there is nothing yet (the job does its work)."""
    if await redis.exists(done_key(interaction_id)):
        return True
    raw = await redis.get(pending_key(interaction_id))
    if raw is None:
        return False
    await _send(redis, slack, interaction_id, Delivery.model_validate_json(raw))
    return True


async def _send(
    redis: aioredis.Redis, slack: SlackPort, interaction_id: str, pending: Delivery
) -> None:
    await slack.tell(pending.to, pending.text, pending.blocks or None)
    pipe = redis.pipeline(transaction=True)
    pipe.set(done_key(interaction_id), "1", ex=DELIVERY_TTL_S)
    pipe.delete(pending_key(interaction_id))
    await pipe.execute()
