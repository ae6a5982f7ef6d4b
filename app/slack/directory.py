"""The workspace's names, read through the Web API: channels by `#name`, users by `@name` and
user groups by `@handle` — what turns the names a policy may be written in into IDs.

Each list is read whole, page by page (cursor pagination, Slack's `response_metadata.
next_cursor`), with the methods Slack publishes for it and the scopes the manifest has:

- `conversations.list`, `types=public_channel,private_channel` (channels:read, groups:read; a
  private channel is listed only when Steward is in it, which is also the only way Steward can
  serve it);
- `users.list` (users:read): a user is found by their username (`name`) or, when no other
  person shares it, their display name; deactivated accounts are left out;
- `usergroups.list` with `include_users` (usergroups:read), disabled groups left out.

Names compare case-insensitively, as Slack's do. Failures are the port's `SlackError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from app.slack.port import SlackPort

PAGE = 200  # Slack recommends no more than 200 per page for these lists


async def _paged(port: SlackPort, method: str, key: str, **args: Any) -> AsyncIterator[Any]:
    cursor: str | None = None
    while True:
        data = await port._call(method, limit=PAGE, cursor=cursor, **args)
        for item in data.get(key, []):
            yield item
        cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            return


async def channels(port: SlackPort) -> dict[str, str]:
    """`launch` → its channel ID, for every channel Steward can see."""
    out: dict[str, str] = {}
    async for channel in _paged(
        port, "conversations.list", "channels", types="public_channel,private_channel"
    ):
        name = str(channel.get("name") or "").lower()
        if name:
            out[name] = str(channel["id"])
    return out


@dataclass(frozen=True)
class People:
    """Users by username and unshared display name; display names that several people use."""

    by_name: dict[str, str] = field(default_factory=dict)
    shared: frozenset[str] = frozenset()


async def users(port: SlackPort) -> People:
    by_name: dict[str, str] = {}
    displays: dict[str, set[str]] = {}
    async for user in _paged(port, "users.list", "members"):
        if user.get("deleted"):
            continue
        user_id = str(user["id"])
        name = str(user.get("name") or "").lower()
        if name:
            by_name[name] = user_id
        display = str((user.get("profile") or {}).get("display_name") or "").lower()
        if display:
            displays.setdefault(display, set()).add(user_id)
    shared = {d for d, ids in displays.items() if len(ids) > 1 and d not in by_name}
    for display, ids in displays.items():
        if len(ids) == 1 and display not in by_name:
            by_name[display] = next(iter(ids))
    return People(by_name, frozenset(shared))


@dataclass(frozen=True)
class Group:
    id: str
    members: tuple[str, ...]


async def usergroups(port: SlackPort) -> dict[str, Group]:
    """`legal-team` → the group's ID and members (usergroups.list is not paginated)."""
    data = await port._call("usergroups.list", include_users=True, include_disabled=False)
    out: dict[str, Group] = {}
    for group in data.get("usergroups", []):
        handle = str(group.get("handle") or "").lower()
        if handle:
            out[handle] = Group(str(group["id"]), tuple(str(u) for u in group.get("users", [])))
    return out
