"""Reading a conversation as the requester may see it: the access check, the paginated fetch,
authors' names and permalinks, as typed `SourceMessage`s.

Summaries and drafts read through here, so a draft can never read (or send to the model) more
than a summary of the same conversation could. Failures are `Unreadable`, with a message for
the person and a code for the audit trail; the use case decides what a refusal means.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.slack.messages import SourceMessage
from app.slack.port import SlackError, SlackPort

DEFAULT_WINDOW_S = 86400
_SKIPPED_SUBTYPES = ("channel_join", "channel_leave")
# Authors' names: Slack has no bulk users.info, and users.list pages through the whole
# workspace (Tier 2), so each distinct author is looked up once with users.info (Tier 4, "100+
# per minute ... generous burst behavior", https://api.slack.com/docs/rate-limits), this many at
# a time: one round trip of wall time for a thread's few dozen authors.
AUTHOR_LOOKUPS_IN_FLIGHT = 8


class Unreadable(Exception):
    """The requester (or Steward) may not read this conversation; `message` says why."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(code)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Conversation:
    channel_id: str
    private: bool  # a private channel, a DM or a group DM: members only

    @classmethod
    def of(cls, channel_id: str, info: dict[str, Any]) -> Conversation:
        private = bool(info.get("is_private") or info.get("is_im") or info.get("is_mpim"))
        return cls(channel_id=channel_id, private=private)


async def check_access(slack: SlackPort, channel_id: str, user_id: str) -> Conversation:
    """Only conversations the requester can read: private ones need them as a member."""
    try:
        conversation = Conversation.of(channel_id, await slack.conversation(channel_id))
        if conversation.private and not await slack.is_member(channel_id, user_id):
            raise Unreadable(
                ":lock: You can only summarise private conversations you are a member of.",
                "not_a_member",
            )
    except SlackError as exc:
        raise Unreadable(unreadable_message(exc), exc.code) from None
    return conversation


async def read(
    slack: SlackPort,
    channel_id: str,
    *,
    thread_ts: str | None = None,
    window_seconds: float | None = None,
) -> list[SourceMessage]:
    """A thread (parent first), or the channel's top-level messages of the last window."""
    try:
        if thread_ts:
            raw = await slack.thread(channel_id, thread_ts)
        else:
            oldest = f"{time.time() - (window_seconds or DEFAULT_WINDOW_S):.6f}"
            raw = await slack.history(channel_id, oldest)
        base = await slack.workspace_url()
    except SlackError as exc:
        raise Unreadable(unreadable_message(exc), exc.code) from None
    return await _sources(slack, raw, channel_id, base)


def unreadable_message(exc: SlackError) -> str:
    if exc.missing_scope_hint:
        return f":warning: I can't read that conversation. {exc.missing_scope_hint}"
    if exc.code in ("channel_not_found", "not_in_channel"):
        return (
            ":lock: I can't read that conversation. If it is a private channel, invite me with "
            "`/invite @Steward` first."
        )
    return f":warning: Slack would not let me read that conversation (`{exc.code}`)."


async def _sources(
    slack: SlackPort, raw: Sequence[dict[str, Any]], channel: str, base: str
) -> list[SourceMessage]:
    seen: set[str] = set()
    kept: list[dict[str, Any]] = []
    for message in raw:
        ts = str(message.get("ts", ""))
        # Slack repeats a thread's parent on later pages; subtypes are joins, topic changes…
        if not ts or ts in seen or message.get("subtype") in _SKIPPED_SUBTYPES:
            continue
        seen.add(ts)
        kept.append(message)
    names = await author_names(slack, {str(m["user"]) for m in kept if m.get("user")})
    out: list[SourceMessage] = []
    for message in kept:
        ts = str(message["ts"])
        user = message.get("user")
        name = names[str(user)] if user else message.get("username", "bot")
        out.append(
            SourceMessage(
                ts=ts,
                user_id=user,
                user_name=str(name),
                text=str(message.get("text", "")),
                permalink=permalink(base, channel, ts, message.get("thread_ts")),
                thread_ts=message.get("thread_ts"),
            )
        )
    return out


async def author_names(slack: SlackPort, users: set[str]) -> dict[str, str]:
    """Each distinct author's name, looked up concurrently (a bounded number at a time)."""
    gate = asyncio.Semaphore(AUTHOR_LOOKUPS_IN_FLIGHT)

    async def one(user: str) -> str:
        async with gate:
            return await slack.user_name(user)

    ordered = sorted(users)
    return dict(zip(ordered, await asyncio.gather(*(one(u) for u in ordered)), strict=True))


def permalink(base: str, channel: str, ts: str, thread_ts: str | None) -> str:
    url = f"{base.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"
    if thread_ts and thread_ts != ts:
        url += f"?thread_ts={thread_ts}&cid={channel}"
    return url
