"""Shared plumbing for the Web API method implementations: typed args, errors, context."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .interactions import Interactions
from .workspace import Channel, Workspace

JsonDict = dict[str, Any]

# Arguments that form-encoded callers send as JSON strings.
JSON_ARGS = frozenset({"blocks", "attachments", "view", "files", "metadata", "chunks", "unfurls"})


class SlackError(Exception):
    """A Slack-style failure: ``{"ok": false, "error": code, ...extra}``."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra

    def body(self) -> JsonDict:
        return {"ok": False, "error": self.code, **self.extra}


class Args:
    """Request arguments merged from query string, form and JSON body, with typed getters."""

    def __init__(self, data: JsonDict) -> None:
        self.data = data

    def req(self, name: str, error: str | None = None) -> str:
        """A required string; missing → ``error`` (default ``invalid_arguments``)."""
        value = self.data.get(name)
        if value is None or value == "":
            raise SlackError(error or "invalid_arguments", detail=f"missing {name}")
        return str(value)

    def opt(self, name: str) -> str | None:
        value = self.data.get(name)
        return None if value is None or value == "" else str(value)

    def number(self, name: str, default: int) -> int:
        value = self.data.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise SlackError("invalid_arguments", detail=f"{name} must be a number") from exc

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.data.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("1", "true", "yes")

    def structured(self, name: str) -> Any:
        """A structured argument that may arrive as a JSON string (form) or as-is (JSON body)."""
        value = self.data.get(name)
        if isinstance(value, str) and name in JSON_ARGS:
            if value == "":
                return None
            try:
                return json.loads(value)
            except ValueError as exc:
                raise SlackError(f"invalid_{name}", detail="not valid JSON") from exc
        return value


@dataclass
class ApiContext:
    """What a method implementation needs besides its args."""

    workspace: Workspace
    interactions: Interactions
    base_url: Callable[[], str]

    def channel(self, ref: str | None) -> Channel:
        """Resolve a channel the bot can see, or raise ``channel_not_found`` like Slack."""
        if not ref:
            raise SlackError("channel_not_found")
        channel = self.workspace.resolve_channel(ref)
        bot = self.workspace.bot_user_id
        if channel is None or (channel.is_private and bot not in channel.members):
            raise SlackError("channel_not_found")
        return channel

    def readable_channel(self, ref: str | None) -> Channel:
        """A channel the bot may read history of: a member, else ``not_in_channel``."""
        channel = self.channel(ref)
        if self.workspace.bot_user_id not in channel.members:
            raise SlackError("not_in_channel")
        return channel

    def user(self, user_id: str | None) -> str:
        if not user_id or user_id not in self.workspace.users:
            raise SlackError("user_not_found")
        return user_id


def encode_cursor(key: str) -> str:
    """An opaque cursor in Slack's style (base64 of ``next_ts:...``)."""
    return base64.b64encode(f"next:{key}".encode()).decode()


def decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
    except ValueError as exc:
        raise SlackError("invalid_cursor") from exc
    if not text.startswith("next:"):
        raise SlackError("invalid_cursor")
    return text[len("next:") :]


def page_meta(next_key: str | None) -> JsonDict:
    return {"response_metadata": {"next_cursor": encode_cursor(next_key) if next_key else ""}}


def clamp_limit(limit: int, default: int, maximum: int = 1000) -> int:
    if limit <= 0:
        return default
    return min(limit, maximum)
