"""Conversation and directory methods: conversations.*, users.*, usergroups.* — with Slack's
cursor pagination.

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
from .contract import kind_scope
from .records import Kind, Message, Thread, micros_from_ts, ts_from_micros

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
    # Source: SPEC conversations.history 200 schema — required: ok, messages, has_more,
    # pin_count, channel_actions_ts, channel_actions_count.
    return {
        "ok": True,
        "messages": page,
        "has_more": has_more,
        "pin_count": 0,
        "channel_actions_ts": None,
        "channel_actions_count": 0,
        **page_meta(next_key),
    }


def _thread_of(ctx: ApiContext, args: Args) -> tuple[Message, Thread]:
    channel = ctx.readable_channel(args.opt("channel"))
    message = channel.by_ts.get(args.opt("ts") or "")
    if message is None:
        raise SlackError("thread_not_found")
    return message, channel.threads.get(message.ts) or Thread(parent_ts=message.ts)


def replies(ctx: ApiContext, args: Args) -> JsonDict:
    """The parent then its replies, oldest first; the parent only on the first page.

    With the ts of a *reply*, Slack returns that one message, not its thread. Source:
    github.com/slackapi/bolt-python/issues/783 ("the response does not include entire thread and
    only includes information about the reply message", reproduced in the method tester; labelled
    server-side) — although docs.slack.dev/reference/methods/conversations.replies describes
    ``ts`` as "either a thread's parent message or a message in the thread". A message without
    replies returns just itself (same page: "If there are no replies then just the single message
    referenced by ts will return").
    """
    message, thread = _thread_of(ctx, args)
    if message.is_reply:
        return {"ok": True, "messages": [message.to_api()], "has_more": False, **page_meta(None)}
    parent = message
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
    channel = ctx.conversation(args.opt("channel"), "read")
    return {"ok": True, "channel": channel.to_api(ctx.workspace.bot_user_id)}


def _paged(items: Sequence[str], args: Args, default: int) -> tuple[list[str], str | None]:
    """Page a sorted list of IDs; the cursor is the first ID of the next page."""
    limit = clamp_limit(args.number("limit", default), default)
    cursor = decode_cursor(args.opt("cursor"))
    start = bisect.bisect_left(items, cursor) if cursor else 0
    end = start + limit
    return list(items[start:end]), items[end] if end < len(items) else None


def members(ctx: ApiContext, args: Args) -> JsonDict:
    channel = ctx.conversation(args.opt("channel"), "read")
    page, next_key = _paged(sorted(channel.members), args, 100)
    return {"ok": True, "members": page, **page_meta(next_key)}


# Source: docs.slack.dev/reference/methods/conversations.open — "Provide 1 to 8 user IDs in the
# users parameter ... Providing only 1 ID will create a direct message. Providing more than 1
# will create a multi-person direct message (mpim)"; errors users_list_not_supplied,
# too_many_users ("Needs at most 8 users to open"), user_not_found,
# method_not_supported_for_channel_type; bot scopes im:write (DM) and mpim:write (group DM).
MAX_MPIM_USERS = 8


def open_conversation(ctx: ApiContext, args: Args) -> JsonDict:
    """Open or resume a DM (one user) or a group DM (2 to 8 users), or resume one by ``channel``."""
    channel_id = args.opt("channel")
    if channel_id:
        channel = ctx.visible(channel_id)
        if channel.kind not in ("im", "mpim"):
            raise SlackError("method_not_supported_for_channel_type")
        ctx.require(kind_scope(channel.kind, "write"))
    else:
        # "Don't include the ID of the user you're calling conversations.open on behalf of – we
        # do that for you" (same page): the bot's own ID is not one of the users.
        bot = ctx.workspace.bot_user_id
        users = [u.strip() for u in (args.opt("users") or "").split(",") if u.strip() != bot]
        users = [u for u in dict.fromkeys(users) if u]
        if not users:
            raise SlackError("users_list_not_supplied")
        ctx.require("im:write" if len(users) == 1 else "mpim:write")
        if len(users) > MAX_MPIM_USERS:
            raise SlackError("too_many_users")
        for user in users:
            ctx.user(user)
        if len(users) == 1:
            channel = ctx.workspace.open_im(users[0])
        else:
            channel = ctx.workspace.open_mpim(users)
    if args.flag("return_im"):
        return {"ok": True, "channel": channel.to_api(ctx.workspace.bot_user_id)}
    return {"ok": True, "channel": {"id": channel.id}}


def join(ctx: ApiContext, args: Args) -> JsonDict:
    """Join a public channel (the scope, channels:join, is checked before this runs).

    Source: docs.slack.dev/reference/methods/conversations.join — errors channel_not_found,
    is_archived, method_not_supported_for_channel_type ("This type of conversation cannot be
    used with this method"); an already-joined caller gets ``warning: already_in_channel`` and
    ``response_metadata.warnings``. A bot cannot join a private channel on its own (it "must be
    invited into the private channel by someone else", api.slack.com/methods/channels.join): one
    it is not in is invisible to it, hence channel_not_found.
    """
    channel = ctx.visible(args.opt("channel"))
    if channel.kind in ("im", "mpim"):
        raise SlackError("method_not_supported_for_channel_type")
    if channel.is_archived:
        raise SlackError("is_archived")
    bot = ctx.workspace.bot_user_id
    body: JsonDict = {"ok": True}
    if bot in channel.members:
        body["warning"] = "already_in_channel"
        body["response_metadata"] = {"warnings": ["already_in_channel"]}
    else:
        channel.members.add(bot)
        ctx.workspace.on_change()
    body["channel"] = channel.to_api(bot)
    return body


# Source: SPEC conversations.list (`types`: "a comma-separated list of any combination of
# public_channel, private_channel, mpim, im"; `limit` "no larger than 1000"; `cursor` from
# `response_metadata.next_cursor`; 200 schema requires ok, channels); REF conversations.list —
# `types` defaults to public_channel, `limit` to 100, error invalid_types, and the bot scopes are
# channels:read, groups:read, im:read, mpim:read: one per conversation type asked for. A private
# channel is listed only to a member (github.com/slack-go/slack/issues/797: "This API does not
# allow you to get a private channel that you are not participating in").
LIST_TYPES: dict[str, Kind] = {
    "public_channel": "channel",
    "private_channel": "group",
    "mpim": "mpim",
    "im": "im",
}


def conversations_list(ctx: ApiContext, args: Args) -> JsonDict:
    """Every conversation of the asked-for types the bot can see, paged by channel ID."""
    asked = [t.strip() for t in (args.opt("types") or "public_channel").split(",") if t.strip()]
    if not asked or any(t not in LIST_TYPES for t in asked):
        raise SlackError("invalid_types")
    kinds = {LIST_TYPES[t] for t in asked}
    for kind in sorted(kinds):
        ctx.require(kind_scope(kind, "read"))
    bot = ctx.workspace.bot_user_id
    skip_archived = args.flag("exclude_archived")
    listed = {
        c.id: c
        for c in ctx.workspace.channels.values()
        if c.kind in kinds
        and (c.kind == "channel" or bot in c.members)
        and not (skip_archived and c.is_archived)
    }
    page, next_key = _paged(sorted(listed), args, 100)
    return {
        "ok": True,
        "channels": [listed[c].to_api(bot) for c in page],
        **page_meta(next_key),
    }


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
    # Source: Slack's method reference, api.slack.com/methods/usergroups.list — every group of
    # the team "in no particular order", members only with `include_users`; scope
    # usergroups:read (contract.py), which Steward needs for policy `@handles`.
    include_users = args.flag("include_users")
    groups = ctx.workspace.usergroups.values()
    return {
        "ok": True,
        "usergroups": [g.to_api(ctx.workspace.team_id, include_users) for g in groups],
    }


def usergroups_users(ctx: ApiContext, args: Args) -> JsonDict:
    # Source: api.slack.com/methods/usergroups.users.list — `usergroup` (the encoded ID, not the
    # handle) is required and answers `users`, a list of user IDs; an unknown ID is
    # `no_such_subteam`; scope usergroups:read.
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
    "conversations.join": join,
    "conversations.list": conversations_list,
    "users.info": users_info,
    "users.list": users_list,
    "usergroups.list": usergroups_list,
    "usergroups.users.list": usergroups_users,
}
