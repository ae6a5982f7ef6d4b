"""Read methods: conversations.*, users.*, usergroups.* — with Slack's cursor pagination.

Pages are cut from the sorted per-channel and per-thread indices with bisect, so each page costs
O(log n + limit) however long the thread is.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from .api_core import (
    ApiContext,
    Args,
    JsonDict,
    SlackError,
    clamp_limit,
    decode_cursor,
    page_meta,
)
from .workspace import Message, Thread, micros_from_ts, ts_from_micros

FAR_FUTURE = "9999999999.999999"


def _bound(value: str | None, default: str) -> str:
    """Normalise ``oldest``/``latest`` (``"0"``, ``"1732460000"``…) to comparable ts strings."""
    if not value:
        return default
    try:
        return ts_from_micros(micros_from_ts(value))
    except ValueError as exc:
        raise SlackError(
            "invalid_ts_latest" if default == FAR_FUTURE else "invalid_ts_oldest"
        ) from exc


def _window(keys: Sequence[str], args: Args) -> tuple[int, int]:
    """Index range ``[lo, hi)`` of ``keys`` inside ``oldest``/``latest`` (``inclusive``)."""
    inclusive = args.flag("inclusive")
    oldest = _bound(args.opt("oldest"), "0000000000.000000")
    latest = _bound(args.opt("latest"), FAR_FUTURE)
    lo = bisect.bisect_left(keys, oldest) if inclusive else bisect.bisect_right(keys, oldest)
    hi = bisect.bisect_right(keys, latest) if inclusive else bisect.bisect_left(keys, latest)
    return lo, hi


def history(ctx: ApiContext, args: Args) -> JsonDict:
    """Top-level messages, newest first; the cursor is the ts of the next (older) message."""
    channel = ctx.readable_channel(args.opt("channel"))
    limit = clamp_limit(args.number("limit", 100), 100)
    lo, hi = _window(channel.top_keys, args)
    cursor = decode_cursor(args.opt("cursor"))
    if cursor is not None:
        hi = min(hi, bisect.bisect_right(channel.top_keys, cursor))
    start = max(lo, hi - limit)
    page = [m.to_api() for m in reversed(channel.top[start:hi])]
    has_more = start > lo
    next_key = channel.top_keys[start - 1] if has_more else None
    return {
        "ok": True,
        "messages": page,
        "has_more": has_more,
        "pin_count": 0,
        **page_meta(next_key),
    }


def _thread_of(ctx: ApiContext, args: Args) -> tuple[Message, Thread]:
    channel = ctx.readable_channel(args.opt("channel"))
    message = channel.by_ts.get(args.opt("ts") or "")
    if message is None:
        raise SlackError("thread_not_found")
    parent = channel.by_ts[message.thread_ts] if message.is_reply and message.thread_ts else message
    return parent, channel.threads.get(parent.ts) or Thread(parent_ts=parent.ts)


def replies(ctx: ApiContext, args: Args) -> JsonDict:
    """The parent then its replies, oldest first; the parent only on the first page."""
    parent, thread = _thread_of(ctx, args)
    limit = clamp_limit(args.number("limit", 1000), 1000)
    lo, hi = _window(thread.keys, args)
    cursor = decode_cursor(args.opt("cursor"))
    page: list[JsonDict] = []
    if cursor is None:
        page.append(parent.to_api())
        limit = max(limit - 1, 1)
    else:
        lo = max(lo, bisect.bisect_left(thread.keys, cursor))
    end = min(hi, lo + limit)
    page.extend(m.to_api() for m in thread.replies[lo:end])
    has_more = end < hi
    next_key = thread.keys[end] if has_more else None
    return {"ok": True, "messages": page, "has_more": has_more, **page_meta(next_key)}


def info(ctx: ApiContext, args: Args) -> JsonDict:
    channel = ctx.channel(args.opt("channel"))
    return {"ok": True, "channel": channel.to_api(ctx.workspace.bot_user_id)}


def _paged(items: Sequence[str], args: Args, default: int) -> tuple[list[str], str | None]:
    """Page a sorted list of IDs; the cursor is the first ID of the next page."""
    limit = clamp_limit(args.number("limit", default), default)
    cursor = decode_cursor(args.opt("cursor"))
    start = bisect.bisect_left(items, cursor) if cursor else 0
    end = start + limit
    return list(items[start:end]), items[end] if end < len(items) else None


def members(ctx: ApiContext, args: Args) -> JsonDict:
    channel = ctx.channel(args.opt("channel"))
    page, next_key = _paged(sorted(channel.members), args, 100)
    return {"ok": True, "members": page, **page_meta(next_key)}


def open_conversation(ctx: ApiContext, args: Args) -> JsonDict:
    """A DM with one user (group DMs are out of scope for this app)."""
    channel_id = args.opt("channel")
    if channel_id:
        return {"ok": True, "channel": {"id": ctx.channel(channel_id).id}}
    users = [u for u in (args.opt("users") or "").split(",") if u]
    if len(users) != 1:
        raise SlackError("users_list_not_supplied" if not users else "not_implemented")
    channel = ctx.workspace.open_im(ctx.user(users[0]))
    if args.flag("return_im"):
        return {"ok": True, "channel": channel.to_api(ctx.workspace.bot_user_id)}
    return {"ok": True, "channel": {"id": channel.id}}


def users_info(ctx: ApiContext, args: Args) -> JsonDict:
    user = ctx.workspace.users[ctx.user(args.opt("user"))]
    return {"ok": True, "user": user.to_api(ctx.workspace.team_id)}


def users_list(ctx: ApiContext, args: Args) -> JsonDict:
    workspace = ctx.workspace
    page, next_key = _paged(sorted(workspace.users), args, 200)
    return {
        "ok": True,
        "members": [workspace.users[u].to_api(workspace.team_id) for u in page],
        "cache_ts": 0,
        **page_meta(next_key),
    }


def usergroups_list(ctx: ApiContext, args: Args) -> JsonDict:
    include_users = args.flag("include_users")
    groups = ctx.workspace.usergroups.values()
    return {
        "ok": True,
        "usergroups": [g.to_api(ctx.workspace.team_id, include_users) for g in groups],
    }


def usergroups_users(ctx: ApiContext, args: Args) -> JsonDict:
    group = ctx.workspace.usergroups.get(args.opt("usergroup") or "")
    if group is None:
        raise SlackError("no_such_subteam")
    return {"ok": True, "users": list(group.users)}


METHODS = {
    "conversations.history": history,
    "conversations.replies": replies,
    "conversations.info": info,
    "conversations.members": members,
    "conversations.open": open_conversation,
    "users.info": users_info,
    "users.list": users_list,
    "usergroups.list": usergroups_list,
    "usergroups.users.list": usergroups_users,
}
