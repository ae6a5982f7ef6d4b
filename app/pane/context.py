"""What a person has open beside the agent pane, remembered from `app_context_changed`.

Source: docs.slack.dev/reference/events/app_context_changed — `context.entities`, "ordered by
relevance", `slack#/types/channel_id` for a channel; an empty `context` when nothing is in view.
A thread in view is not a published entity type; one whose type ends in `thread_ts` (as agent
apps' fixtures show) is taken when it comes, and ignored otherwise.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from app.pane.intents import Viewing

VIEW_TTL_S = 7 * 24 * 3600
CHANNEL_ENTITY = "slack#/types/channel_id"


def key(team_id: str, user_id: str) -> str:
    return f"steward:pane:view:{team_id}:{user_id}"


def entities_in_view(context: dict[str, Any]) -> tuple[str | None, str | None]:
    """The most relevant channel in view, and a thread in it when one is named."""
    channel = thread = None
    for entity in context.get("entities") or []:
        if not isinstance(entity, dict):
            continue
        kind, value = str(entity.get("type", "")), entity.get("value")
        if kind == CHANNEL_ENTITY and channel is None and isinstance(value, str):
            channel = value
        elif kind.endswith("thread_ts") and thread is None and isinstance(value, str):
            thread = value
    return channel, thread if channel else None


# Two context changes can be handled at once by two workers: the later event wins, whichever
# job finishes last (ARGV: the event's time, the view's JSON or "" for nothing, the TTL).
_NEWER = """
local seen = tonumber(redis.call('HGET', KEYS[1], 'at') or '-1')
if tonumber(ARGV[1]) < seen then return 0 end
redis.call('HSET', KEYS[1], 'at', ARGV[1], 'view', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


async def remember(
    redis: aioredis.Redis, team_id: str, user_id: str, viewing: Viewing | None, at: float
) -> bool:
    """Keep what is in view as of the event at `at`; False when a later one is already kept."""
    view = viewing.model_dump_json() if viewing is not None else ""
    kept = await redis.eval(_NEWER, 1, key(team_id, user_id), repr(at), view, VIEW_TTL_S)
    return bool(kept)


async def recall(redis: aioredis.Redis, team_id: str, user_id: str) -> Viewing | None:
    raw = await redis.hget(key(team_id, user_id), "view")
    return Viewing.model_validate_json(raw) if raw else None
