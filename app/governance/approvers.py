"""Who is in an approver group: the policy's user IDs plus its `@user-group` handles resolved
through the Slack port (`usergroup_members`, handles compared case-insensitively), each handle's
members cached in Redis for a minute so a burst of clicks or views asks Slack once.
"""

from __future__ import annotations

import json
import logging

from app.governance import keys, resolution
from app.runtime.services import Services
from app.slack.port import SlackError

log = logging.getLogger(__name__)

GROUP_CACHE_TTL_S = 60


async def handle_members(services: Services, handle: str) -> list[str]:
    """Members of the Slack user group `@handle`; [] when Slack cannot say (missing
    usergroups:read scope, no such group). A failed lookup is not cached."""
    key = keys.usergroup_members(handle)
    cached = await services.redis.get(key)
    if cached is not None:
        return list(json.loads(cached))
    try:
        members = await services.slack.usergroup_members(handle)
    except SlackError as exc:
        log.warning("user group lookup failed", extra={"code": exc.code})
        return []
    await services.redis.set(key, json.dumps(members), ex=GROUP_CACHE_TTL_S)
    return members


async def members_of(services: Services, group: str) -> list[str]:
    """User IDs of an approver group: listed IDs plus resolved user-group handles, in order,
    each once."""
    listed = resolution.approvers_for(services.policy, group)
    out = list(listed.user_ids)
    for handle in listed.handles:
        out += [u for u in await handle_members(services, handle) if u not in out]
    return out
