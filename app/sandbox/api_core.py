"""Shared plumbing for the Web API method implementations: typed args, errors, context."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .contract import Action, kind_scope
from .interactions import Interactions
from .records import Channel
from .workspace import Workspace

JsonDict = dict[str, Any]

# Arguments that form-encoded callers send as JSON strings.
JSON_ARGS = frozenset(
    {"blocks", "attachments", "view", "files", "metadata", "chunks", "unfurls", "prompts"}
    | {"loading_messages"}
)


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
    """What a method implementation needs besides its args: the workspace, the interactions
    registry, the sandbox's base URL and the bot token's granted scopes."""

    workspace: Workspace
    interactions: Interactions
    base_url: Callable[[], str]
    scopes: frozenset[str] = field(default_factory=frozenset)

    def provided(self) -> str:
        """The granted scopes as Slack lists them (``x-oauth-scopes``, ``provided``)."""
        return ",".join(sorted(self.scopes))

    def require(self, scope: str) -> None:
        """Raise ``missing_scope`` unless the token holds ``scope``.

        Source: docs.slack.dev/apis/web-api (error ``missing_scope``: "The token used is not
        granted the specific scope permissions required to complete this request"); the body
        carries ``needed`` and ``provided`` as Slack sends them, e.g.
        ``{"ok":false,"error":"missing_scope","needed":"chat:write","provided":"channels:read"}``
        (@slack/web-api's response types all declare ``needed``/``provided`` for this).
        """
        if scope not in self.scopes:
            raise SlackError("missing_scope", needed=scope, provided=self.provided())

    def visible(self, ref: str | None) -> Channel:
        """Resolve a conversation the bot can see, or raise ``channel_not_found`` like Slack.

        A private channel, DM or group DM the bot is not in is invisible to it. Source:
        docs.slack.dev/reference/methods/chat.postMessage errors (channel_not_found: "Value passed
        for channel was invalid"); github.com/mishk0/slack-bot-api/issues/97 — Slack does not
        reveal a private channel's existence to a non-member, so it answers channel_not_found.
        """
        if not ref:
            raise SlackError("channel_not_found")
        channel = self.workspace.resolve_channel(ref)
        bot = self.workspace.bot_user_id
        if channel is None or (channel.is_private and bot not in channel.members):
            raise SlackError("channel_not_found")
        return channel

    def conversation(self, ref: str | None, action: Action) -> Channel:
        """A visible conversation, after checking the ``<kind>:<action>`` scope its kind needs.

        Source: docs.slack.dev/reference/methods/conversations.history (and .replies, .info,
        .members) — "required scopes depend on the type of channel-like object you're working
        with": channels:, groups:, im: or mpim: history/read.
        """
        channel = self.visible(ref)
        self.require(kind_scope(channel.kind, action))
        return channel

    def channel(self, ref: str | None) -> Channel:
        """A visible conversation, no kind scope checked (methods whose scope is static)."""
        return self.visible(ref)

    def readable_channel(self, ref: str | None) -> Channel:
        """A conversation the bot may read history of: a member, else ``not_in_channel``.

        Source: docs.slack.dev/reference/methods/conversations.history errors — not_in_channel
        for a bot token reading a public channel it has not joined.
        """
        channel = self.conversation(ref, "history")
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
