"""What a fake workspace holds, one record type each: users, messages, threads, channels,
ephemerals, views, user groups and files, each with the JSON shape Slack's Web API gives it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["channel", "group", "im", "mpim"]
JsonDict = dict[str, Any]


def ts_from_micros(micros: int) -> str:
    """Format a microsecond timestamp the way Slack does: ``"1732460000.000100"``."""
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def micros_from_ts(ts: str) -> int:
    """Inverse of :func:`ts_from_micros`; tolerant of fewer than six decimals."""
    whole, _, frac = ts.partition(".")
    return int(whole) * 1_000_000 + int((frac + "000000")[:6])


@dataclass
class User:
    """A workspace member (or the bot user)."""

    id: str
    name: str
    real_name: str
    is_admin: bool = False
    is_owner: bool = False
    is_bot: bool = False
    tz: str = "America/Los_Angeles"
    tz_offset: int = -28800
    email: str | None = None
    title: str = ""
    deleted: bool = False

    def to_api(self, team_id: str) -> JsonDict:
        """The ``user`` object as users.info / users.list return it."""
        profile: JsonDict = {
            "real_name": self.real_name,
            "display_name": self.name,
            "real_name_normalized": self.real_name,
            "display_name_normalized": self.name,
            "title": self.title,
            "team": team_id,
        }
        if self.email:
            profile["email"] = self.email
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "real_name": self.real_name,
            "deleted": self.deleted,
            "tz": self.tz,
            "tz_label": self.tz,
            "tz_offset": self.tz_offset,
            "is_admin": self.is_admin,
            "is_owner": self.is_owner,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "profile": profile,
        }


@dataclass
class Message:
    """A message in a channel; a thread parent carries the reply bookkeeping Slack shows."""

    channel: str
    ts: str
    text: str = ""
    user: str | None = None
    bot_id: str | None = None
    app_id: str | None = None
    blocks: list[JsonDict] = field(default_factory=list)
    attachments: list[JsonDict] = field(default_factory=list)
    thread_ts: str | None = None
    subtype: str | None = None
    reply_count: int = 0
    reply_users: list[str] = field(default_factory=list)
    latest_reply: str | None = None
    files: list[JsonDict] = field(default_factory=list)
    reactions: list[JsonDict] = field(default_factory=list)
    metadata: JsonDict | None = None
    edited: JsonDict | None = None
    streaming: bool = False

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def to_api(self) -> JsonDict:
        """The message object as conversations.history / replies return it."""
        out: JsonDict = {"type": "message", "ts": self.ts, "text": self.text}
        if self.user:
            out["user"] = self.user
        if self.bot_id:
            out["bot_id"] = self.bot_id
            out["app_id"] = self.app_id
        optional: JsonDict = {
            "subtype": self.subtype,
            "blocks": self.blocks,
            "attachments": self.attachments,
            "thread_ts": self.thread_ts,
            "files": self.files,
            "reactions": self.reactions,
            "metadata": self.metadata,
            "edited": self.edited,
        }
        out.update({k: v for k, v in optional.items() if v})
        if self.reply_count:
            out["reply_count"] = self.reply_count
            out["reply_users"] = self.reply_users[:5]
            out["reply_users_count"] = len(self.reply_users)
            out["latest_reply"] = self.latest_reply
        return out


@dataclass
class Thread:
    """Replies to one parent, kept sorted by ts with a parallel key list for bisecting."""

    parent_ts: str
    replies: list[Message] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    def insert(self, message: Message) -> None:
        index = bisect.bisect_left(self.keys, message.ts)
        self.keys.insert(index, message.ts)
        self.replies.insert(index, message)

    def remove(self, ts: str) -> None:
        index = bisect.bisect_left(self.keys, ts)
        if index < len(self.keys) and self.keys[index] == ts:
            del self.keys[index]
            del self.replies[index]


@dataclass
class Channel:
    """A public or private channel, a DM (``is_im``) with ``im_user``, or a group DM."""

    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    im_user: str | None = None
    is_mpim: bool = False
    is_archived: bool = False
    members: set[str] = field(default_factory=set)
    topic: str = ""
    purpose: str = ""
    created: int = 1_700_000_000
    creator: str = ""
    top: list[Message] = field(default_factory=list)
    top_keys: list[str] = field(default_factory=list)
    threads: dict[str, Thread] = field(default_factory=dict)
    by_ts: dict[str, Message] = field(default_factory=dict)

    @property
    def kind(self) -> Kind:
        """Which family of scopes governs it: ``channel`` (public), ``group`` (private),
        ``im`` or ``mpim`` (Source: docs.slack.dev/reference/methods/conversations.info,
        "required scopes depend on the type of channel-like object")."""
        if self.is_im:
            return "im"
        if self.is_mpim:
            return "mpim"
        return "group" if self.is_private else "channel"

    def to_api(self, viewer: str) -> JsonDict:
        """The ``channel`` object as conversations.info returns it, seen by ``viewer``."""
        if self.is_im:
            return {
                "id": self.id,
                "created": self.created,
                "is_im": True,
                "is_org_shared": False,
                "user": self.im_user,
                "is_user_deleted": False,
                "priority": 0,
            }
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": self.kind == "channel",
            "is_group": self.kind == "group",
            "is_im": False,
            "is_mpim": self.is_mpim,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_general": self.name == "general",
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": viewer in self.members,
            "created": self.created,
            "creator": self.creator,
            "num_members": len(self.members),
            "topic": {"value": self.topic, "creator": self.creator, "last_set": 0},
            "purpose": {"value": self.purpose, "creator": self.creator, "last_set": 0},
        }

    def all_messages(self) -> list[Message]:
        """Every message, top-level and replies, in ts order (for assertions, not paging)."""
        return sorted(self.by_ts.values(), key=lambda m: m.ts)


@dataclass
class Ephemeral:
    """A message only ``user`` sees; Slack never lets the app read these back, tests can."""

    id: int
    channel: str
    user: str
    ts: str
    text: str = ""
    blocks: list[JsonDict] = field(default_factory=list)
    thread_ts: str | None = None
    source: str = "chat.postEphemeral"
    deleted: bool = False
    history: list[JsonDict] = field(default_factory=list)

    def to_api(self) -> JsonDict:
        """The ``container``/``message`` shape a block_actions payload carries for it."""
        out: JsonDict = {"type": "message", "ts": self.ts, "text": self.text, "blocks": self.blocks}
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        return out


@dataclass
class ViewRecord:
    """A modal or App Home view the app opened, pushed, updated or published."""

    id: str
    type: str
    user: str
    view: JsonDict
    hash: str
    team_id: str
    app_id: str
    bot_id: str
    root_view_id: str | None = None
    previous_view_id: str | None = None
    external_id: str | None = None
    closed: bool = False
    errors: dict[str, str] = field(default_factory=dict)
    state: JsonDict = field(default_factory=dict)

    @property
    def blocks(self) -> list[JsonDict]:
        blocks = self.view.get("blocks") or []
        return list(blocks)

    @property
    def callback_id(self) -> str:
        return str(self.view.get("callback_id") or "")

    @property
    def private_metadata(self) -> str:
        return str(self.view.get("private_metadata") or "")

    def to_api(self) -> JsonDict:
        """The ``view`` object the Web API returns and interaction payloads carry."""
        out: JsonDict = {
            "id": self.id,
            "team_id": self.team_id,
            "type": self.type,
            "blocks": self.blocks,
            "private_metadata": self.private_metadata,
            "callback_id": self.callback_id,
            "state": {"values": self.state},
            "hash": self.hash,
            "clear_on_close": bool(self.view.get("clear_on_close", False)),
            "notify_on_close": bool(self.view.get("notify_on_close", False)),
            "root_view_id": self.root_view_id or self.id,
            "previous_view_id": self.previous_view_id,
            "app_id": self.app_id,
            "external_id": self.external_id or "",
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        for key in ("title", "submit", "close"):
            if key in self.view:
                out[key] = self.view[key]
        return out


@dataclass
class UserGroup:
    """A user group such as ``@legal-team``."""

    id: str
    handle: str
    name: str
    users: list[str] = field(default_factory=list)

    def to_api(self, team_id: str, include_users: bool) -> JsonDict:
        out: JsonDict = {
            "id": self.id,
            "team_id": team_id,
            "is_usergroup": True,
            "name": self.name,
            "handle": self.handle,
            "description": "",
            "user_count": len(self.users),
            "date_delete": 0,
        }
        if include_users:
            out["users"] = list(self.users)
        return out


@dataclass
class FileRecord:
    """A file uploaded through files upload v2 (getUploadURLExternal → POST → complete)."""

    id: str
    name: str
    length: int
    user: str
    title: str = ""
    content: bytes | None = None
    channels: list[str] = field(default_factory=list)
    completed: bool = False

    def to_api(self) -> JsonDict:
        return {
            "id": self.id,
            "name": self.name,
            "title": self.title or self.name,
            "size": len(self.content or b""),
            "user": self.user,
            "mimetype": "text/plain",
            "filetype": "text",
            "channels": list(self.channels),
            "permalink": f"https://files.sandbox.local/{self.id}/{self.name}",
        }
