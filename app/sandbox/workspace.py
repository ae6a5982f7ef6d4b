"""In-memory state of a fake Slack workspace.

The Web API, the user side and the test helpers all read and mutate this one object. It keeps
the indices Slack's read methods need (top-level messages per channel and replies per thread,
both sorted by ``ts``) so that paginating a 10,000-reply thread is a bisect, not a scan.
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections.abc import Callable
from typing import Any

from .pane_state import PaneState
from .records import (
    Channel,
    Ephemeral,
    FileRecord,
    JsonDict,
    Message,
    Thread,
    User,
    UserGroup,
    ViewRecord,
    micros_from_ts,
    ts_from_micros,
)


class Workspace:
    """All state of the fake workspace, with helpers to seed it for tests and demos."""

    def __init__(
        self,
        team_id: str = "T0STEWARD",
        team_name: str = "Acme",
        domain: str = "acme",
        bot_user_id: str = "UBOT",
        bot_id: str = "B0STEWARD",
        app_id: str = "A0STEWARD",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.team_id = team_id
        self.team_name = team_name
        self.domain = domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.ephemerals: list[Ephemeral] = []
        self.views: dict[str, ViewRecord] = {}
        self.homes: dict[str, str] = {}
        self.modal_stacks: dict[str, list[str]] = {}
        self.usergroups: dict[str, UserGroup] = {}
        self.files: dict[str, FileRecord] = {}
        self.on_change: Callable[[], None] = lambda: None
        self.pane = PaneState()  # the agent pane's statuses, prompts, titles (pane_state.py)
        self._clock = clock
        self._last_micros = 0
        self._ids = itertools.count(1)
        self.add_user(bot_user_id, "steward", "Steward", is_bot=True)

    # ----------------------------------------------------------------- identifiers and time
    def next_ts(self) -> str:
        """A fresh message ts, strictly greater than every ts handed out or seeded so far."""
        self._last_micros = max(int(self._clock() * 1_000_000), self._last_micros + 1)
        return ts_from_micros(self._last_micros)

    def new_id(self, prefix: str) -> str:
        """Slack-looking IDs (``V0000000007``) that never collide within this workspace."""
        return f"{prefix}{next(self._ids):010d}"

    def _claim_ts(self, ts: str | None) -> str:
        if ts is None:
            return self.next_ts()
        self._last_micros = max(self._last_micros, micros_from_ts(ts))
        return ts

    # ----------------------------------------------------------------- seeding helpers
    def add_user(self, user_id: str, name: str, real_name: str, **extra: Any) -> User:
        user = User(id=user_id, name=name, real_name=real_name, **extra)
        self.users[user_id] = user
        return user

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        private: bool = False,
        members: list[str] | set[str] | None = None,
        bot_member: bool = True,
        topic: str = "",
        archived: bool = False,
    ) -> Channel:
        """Add a channel; the bot is a member unless ``bot_member=False``."""
        member_set = set(members or [])
        if bot_member:
            member_set.add(self.bot_user_id)
        channel = Channel(
            id=channel_id,
            name=name,
            is_private=private,
            members=member_set,
            topic=topic,
            is_archived=archived,
        )
        self.channels[channel_id] = channel
        self.on_change()
        return channel

    def open_im(self, user_id: str, channel_id: str | None = None) -> Channel:
        """The DM between ``user_id`` and the bot, created on first use."""
        for channel in self.channels.values():
            if channel.is_im and channel.im_user == user_id:
                return channel
        channel = Channel(
            id=channel_id or self.new_id("D"),
            name=user_id,
            is_im=True,
            is_private=True,
            im_user=user_id,
            members={user_id, self.bot_user_id},
        )
        self.channels[channel.id] = channel
        return channel

    def open_mpim(self, user_ids: list[str], channel_id: str | None = None) -> Channel:
        """The group DM of exactly ``user_ids`` and the bot, created on first use.

        Source: docs.slack.dev/reference/methods/conversations.open — "If there are no
        conversations already in progress including that exact set of members, a new multi-person
        direct message conversation begins. Subsequent calls ... with the same set of users will
        return the already existing conversation."
        """
        members = {*user_ids, self.bot_user_id}
        for channel in self.channels.values():
            if channel.is_mpim and channel.members == members:
                return channel
        handles = "--".join(self.users[u].name for u in user_ids)
        channel = Channel(
            id=channel_id or self.new_id("G"),
            name=f"mpdm-{handles}-1",
            is_private=True,
            is_mpim=True,
            members=members,
        )
        self.channels[channel.id] = channel
        self.on_change()
        return channel

    def add_usergroup(self, group_id: str, handle: str, name: str, users: list[str]) -> UserGroup:
        group = UserGroup(id=group_id, handle=handle, name=name, users=list(users))
        self.usergroups[group_id] = group
        return group

    def add_message(
        self,
        channel_id: str,
        text: str = "",
        *,
        user: str | None = None,
        bot: bool = False,
        thread_ts: str | None = None,
        blocks: list[JsonDict] | None = None,
        ts: str | None = None,
        **extra: Any,
    ) -> Message:
        """Append a message (a reply when ``thread_ts`` is given) and update the indices.

        ``ts`` may be given for deterministic seeding; it must be newer than everything so far.
        """
        channel = self.channels[channel_id]
        parent = channel.by_ts.get(thread_ts) if thread_ts else None
        if parent is not None and parent.is_reply:
            parent = channel.by_ts[parent.thread_ts or ""]
        message = Message(
            channel=channel_id,
            ts=self._claim_ts(ts),
            text=text,
            user=self.bot_user_id if bot else user,
            bot_id=self.bot_id if bot else None,
            app_id=self.app_id if bot else None,
            blocks=list(blocks or []),
            thread_ts=parent.ts if parent else None,
            **extra,
        )
        channel.by_ts[message.ts] = message
        if parent is None:
            self._insert_top(channel, message)
        else:
            self._attach_reply(channel, parent, message)
        self.on_change()
        return message

    def add_thread(
        self, channel_id: str, parent: tuple[str, str], replies: list[tuple[str, str]]
    ) -> Message:
        """Seed a thread from ``(user, text)`` pairs; returns the parent."""
        root = self.add_message(channel_id, parent[1], user=parent[0])
        for user, text in replies:
            self.add_message(channel_id, text, user=user, thread_ts=root.ts)
        return root

    def _insert_top(self, channel: Channel, message: Message) -> None:
        index = bisect.bisect_left(channel.top_keys, message.ts)
        channel.top_keys.insert(index, message.ts)
        channel.top.insert(index, message)

    def _attach_reply(self, channel: Channel, parent: Message, message: Message) -> None:
        parent.thread_ts = parent.ts
        thread = channel.threads.setdefault(parent.ts, Thread(parent_ts=parent.ts))
        thread.insert(message)
        parent.reply_count = len(thread.replies)
        parent.latest_reply = thread.keys[-1]
        author = message.user or message.bot_id or ""
        if author and author not in parent.reply_users:
            parent.reply_users.append(author)

    def delete_message(self, channel_id: str, ts: str) -> Message | None:
        """Remove a message from every index; the parent's reply count follows."""
        channel = self.channels[channel_id]
        message = channel.by_ts.pop(ts, None)
        if message is None:
            return None
        if message.is_reply:
            parent = channel.by_ts.get(message.thread_ts or "")
            thread = channel.threads.get(message.thread_ts or "")
            if thread is not None:
                thread.remove(ts)
                if parent is not None:
                    parent.reply_count = len(thread.replies)
                    parent.latest_reply = thread.keys[-1] if thread.keys else None
        else:
            index = bisect.bisect_left(channel.top_keys, ts)
            del channel.top_keys[index]
            del channel.top[index]
        self.on_change()
        return message

    def add_ephemeral(
        self,
        channel: str,
        user: str,
        text: str,
        blocks: list[JsonDict] | None = None,
        thread_ts: str | None = None,
        source: str = "chat.postEphemeral",
    ) -> Ephemeral:
        ephemeral = Ephemeral(
            id=len(self.ephemerals) + 1,
            channel=channel,
            user=user,
            ts=self.next_ts(),
            text=text,
            blocks=list(blocks or []),
            thread_ts=thread_ts,
            source=source,
        )
        self.ephemerals.append(ephemeral)
        self.on_change()
        return ephemeral

    # ----------------------------------------------------------------- lookups
    def resolve_channel(self, ref: str) -> Channel | None:
        """A channel by ID, ``#name``/``name``, or a user ID (meaning the DM with the bot)."""
        if ref in self.channels:
            return self.channels[ref]
        if ref in self.users and ref != self.bot_user_id:
            return self.open_im(ref)
        name = ref.lstrip("#")
        for channel in self.channels.values():
            if not channel.is_im and channel.name == name:
                return channel
        return None

    def find_message(self, ts: str) -> Message | None:
        """A message by ts in any channel (ts is unique workspace-wide here)."""
        for channel in self.channels.values():
            message = channel.by_ts.get(ts)
            if message is not None:
                return message
        return None

    def usergroup_by_handle(self, handle: str) -> UserGroup | None:
        handle = handle.lstrip("@")
        for group in self.usergroups.values():
            if group.handle == handle:
                return group
        return None
