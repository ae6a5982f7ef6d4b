"""Who is in a group: the policy's user IDs plus its `@user-group` handles resolved through the
Slack port (`usergroup_members`, handles compared case-insensitively), each handle's members
cached in Redis for `STEWARD_GROUP_CACHE_SECONDS` so a burst of clicks or views asks Slack once,
and forgotten when the policy is reloaded (a reload is when an admin expects changes to show).

Two ways to ask, because a failed lookup means different things: for approvers and views,
`handle_members` answers [] (nobody extra may approve: fails closed); for `users` /
`deny_users`, `group_members` raises, since [] would silently lift a `deny_users` entry.
"""

from __future__ import annotations

import json
import logging

from app.governance import audience, keys, resolution
from app.governance.policy_schema import Policy
from app.runtime.services import Services
from app.slack.port import SlackError

log = logging.getLogger(__name__)


async def group_members(services: Services, handle: str) -> list[str]:
    """Members of the Slack user group `@handle` ([] when no group has that handle); raises
    SlackError when Slack cannot say (outage, missing usergroups:read). Failures are not
    cached."""
    key = keys.usergroup_members(handle)
    cached = await services.redis.get(key)
    if cached is not None:
        return list(json.loads(cached))
    members = await services.slack.usergroup_members(handle)
    ttl = services.settings.steward_group_cache_seconds
    await services.redis.set(key, json.dumps(members), ex=ttl)
    return members


async def handle_members(services: Services, handle: str) -> list[str]:
    """Members of the Slack user group `@handle`; [] when Slack cannot say."""
    try:
        return await group_members(services, handle)
    except SlackError as exc:
        log.warning("user group lookup failed", extra={"code": exc.code})
        return []


async def members_of(services: Services, group: str) -> list[str]:
    """User IDs of an approver group: listed IDs plus resolved user-group handles, in order,
    each once."""
    listed = resolution.approvers_for(services.policy, group)
    out = list(listed.user_ids)
    for handle in listed.handles:
        out += [u for u in await handle_members(services, handle) if u not in out]
    return out


async def handles_of(services: Services, user_id: str, handles: list[str]) -> list[str]:
    """Which of `handles` the person is in; raises SlackError when Slack cannot say."""
    return [h for h in handles if user_id in await group_members(services, h)]


def _all_handles(policy: Policy) -> set[str]:
    found = {m.lower() for members in policy.groups.values() for m in members if m[:1] == "@"}
    for name in policy.use_cases:
        found.update(audience.handles_needed(policy, name, ""))
    for channel, overrides in policy.channels.items():
        for name in overrides:
            found.update(audience.handles_needed(policy, name, channel))
    return found


async def forget_groups(services: Services, *policies: Policy) -> None:
    """Drop the cached members of every user group these policies name."""
    handles = set().union(*(_all_handles(p) for p in policies))
    if handles:
        await services.redis.delete(*(keys.usergroup_members(h) for h in sorted(handles)))
