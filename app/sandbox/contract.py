"""Slack's published contract for each Web API method the sandbox serves, in one table.

Every row says how Slack reads a method's arguments (whether a JSON body is read at all) and
which bot scope it needs, with the source of each fact. The HTTP layer (``webapi.py``) applies the
encoding rule and the static scope; methods whose scope depends on the conversation's kind
(``channels:`` / ``groups:`` / ``im:`` / ``mpim:``) check it once the conversation is resolved,
through :meth:`~app.sandbox.api_core.ApiContext.conversation`.

Sources, by short name used in the rows below:

- SPEC: Slack's Web API OpenAPI spec, ``web-api/slack_web_openapi_v2_without_examples.json`` in
  github.com/slackapi/slack-api-specs (commit bc08db49625630e3585bf2f1322128ea04f2a7f3). Per
  method its ``consumes`` lists the content types read; a method whose ``consumes`` lacks
  ``application/json`` ignores a JSON body. The spec's ``security.slackAuth`` still names the
  legacy scopes (``chat:write:bot``, ``channels:write``); the granular bot scopes come from the
  method reference pages.
- REF: the method reference, docs.slack.dev/reference/methods/<method> (formerly
  api.slack.com/methods/<method>): "Facts → Scopes → Bot token" and "Content types".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from .records import Kind

Action = Literal["history", "read", "write"]

# Source: REF conversations.history / conversations.replies / conversations.info — "This
# Conversations API method's required scopes depend on the type of channel-like object you're
# working with ... channels:, groups:, im: or mpim: scopes corresponding to the conversation type".
KIND_PREFIX: dict[Kind, str] = {
    "channel": "channels",
    "group": "groups",
    "im": "im",
    "mpim": "mpim",
}


def kind_scope(kind: Kind, action: Action) -> str:
    """The scope an ``action`` on a conversation of ``kind`` needs, e.g. ``groups:history``."""
    return f"{KIND_PREFIX[kind]}:{action}"


@dataclass(frozen=True)
class MethodContract:
    """How Slack takes one Web API method."""

    json: bool  # whether a JSON body is read (SPEC ``consumes`` lists application/json)
    scope: str | None  # the bot scope always needed (None: none, or it depends on the kind)
    kind_action: Action | None  # the scope is ``<kind>:<action>`` of the conversation
    source: str


def _row(json: bool, scope: str | None, source: str, kind: Action | None = None) -> MethodContract:
    return MethodContract(json=json, scope=scope, kind_action=kind, source=source)


FORM_ONLY = False
JSON_TOO = True

CONTRACT: dict[str, MethodContract] = {
    # ---- read methods: form/query only (SPEC consumes = [application/x-www-form-urlencoded])
    "conversations.history": _row(
        FORM_ONLY, None, "SPEC consumes form only; REF scopes by kind: *:history", "history"
    ),
    "conversations.replies": _row(
        FORM_ONLY, None, "SPEC consumes form only; REF scopes by kind: *:history", "history"
    ),
    "conversations.info": _row(
        FORM_ONLY, None, "SPEC consumes form only; REF scopes by kind: *:read", "read"
    ),
    "conversations.members": _row(
        FORM_ONLY, None, "SPEC consumes form only; REF scopes by kind: *:read", "read"
    ),
    "conversations.list": _row(
        FORM_ONLY, None, "SPEC consumes form only; REF scopes by the types listed: *:read", "read"
    ),
    "users.info": _row(FORM_ONLY, "users:read", "SPEC consumes form only; REF bot: users:read"),
    "users.list": _row(FORM_ONLY, "users:read", "SPEC consumes form only; REF bot: users:read"),
    "usergroups.list": _row(
        FORM_ONLY, "usergroups:read", "SPEC consumes form only; REF bot: usergroups:read"
    ),
    "usergroups.users.list": _row(
        FORM_ONLY, "usergroups:read", "SPEC consumes form only; REF bot: usergroups:read"
    ),
    "chat.getPermalink": _row(FORM_ONLY, None, "SPEC consumes form only; SPEC slackAuth: none"),
    "team.info": _row(FORM_ONLY, "team:read", "SPEC consumes form only; REF bot: team:read"),
    "bots.info": _row(FORM_ONLY, "users:read", "SPEC consumes form only; REF bot: users:read"),
    # Source: api.slack.com/methods/files.getUploadURLExternal — "Content types:
    # application/x-www-form-urlencoded" (GET); bot scope files:write. (docs.slack.dev now also
    # lists application/json; slack_sdk sends form fields, so the stricter reading is kept.)
    "files.getUploadURLExternal": _row(
        FORM_ONLY, "files:write", "api.slack.com/methods/files.getUploadURLExternal"
    ),
    # Source: api.slack.com/methods/files.completeUploadExternal — "Content types:
    # application/x-www-form-urlencoded, application/json"; bot scope files:write.
    "files.completeUploadExternal": _row(
        JSON_TOO, "files:write", "api.slack.com/methods/files.completeUploadExternal"
    ),
    # ---- methods that read JSON bodies (SPEC consumes lists application/json)
    "chat.postMessage": _row(
        JSON_TOO, "chat:write", "SPEC consumes form+json; REF bot: chat:write"
    ),
    "chat.postEphemeral": _row(
        JSON_TOO, "chat:write", "SPEC consumes form+json; REF bot: chat:write"
    ),
    "chat.update": _row(JSON_TOO, "chat:write", "SPEC consumes form+json; REF bot: chat:write"),
    "chat.delete": _row(JSON_TOO, "chat:write", "SPEC consumes form+json; REF bot: chat:write"),
    # Not in the 2021 SPEC. Source: docs.slack.dev/reference/methods/chat.startStream (and
    # chat.appendStream, chat.stopStream) — "Content types: application/x-www-form-urlencoded,
    # application/json"; bot scope chat:write.
    "chat.startStream": _row(
        JSON_TOO, "chat:write", "docs.slack.dev/reference/methods/chat.startStream"
    ),
    "chat.appendStream": _row(
        JSON_TOO, "chat:write", "docs.slack.dev/reference/methods/chat.appendStream"
    ),
    "chat.stopStream": _row(
        JSON_TOO, "chat:write", "docs.slack.dev/reference/methods/chat.stopStream"
    ),
    # Source: docs.slack.dev/reference/methods/assistant.threads.setStatus — "Content types:
    # application/x-www-form-urlencoded, application/json"; bot scope chat:write.
    "assistant.threads.setStatus": _row(
        JSON_TOO, "chat:write", "docs.slack.dev/reference/methods/assistant.threads.setStatus"
    ),
    # Source: docs.slack.dev/reference/methods/assistant.threads.setSuggestedPrompts (and
    # .setTitle) — form and JSON; bot scope assistant:write.
    "assistant.threads.setSuggestedPrompts": _row(
        JSON_TOO,
        "assistant:write",
        "docs.slack.dev/reference/methods/assistant.threads.setSuggestedPrompts",
    ),
    "assistant.threads.setTitle": _row(
        JSON_TOO, "assistant:write", "docs.slack.dev/reference/methods/assistant.threads.setTitle"
    ),
    # conversations.open: im:write for one user, mpim:write for several — decided in the method.
    # Source: REF conversations.open, bot scopes im:write / mpim:write (channels:manage and
    # groups:write too, for which it is not used).
    "conversations.open": _row(JSON_TOO, None, "SPEC consumes form+json; REF bot: im/mpim:write"),
    # Source: REF conversations.join — bot scope channels:join (SPEC: legacy channels:write).
    "conversations.join": _row(
        JSON_TOO, "channels:join", "SPEC consumes form+json; REF bot: channels:join"
    ),
    "views.open": _row(JSON_TOO, None, "SPEC consumes form+json; SPEC slackAuth: none"),
    "views.push": _row(JSON_TOO, None, "SPEC consumes form+json; SPEC slackAuth: none"),
    "views.update": _row(JSON_TOO, None, "SPEC consumes form+json; SPEC slackAuth: none"),
    "views.publish": _row(JSON_TOO, None, "SPEC consumes form+json; SPEC slackAuth: none"),
    "auth.test": _row(JSON_TOO, None, "SPEC consumes form+json; SPEC slackAuth: none"),
    "reactions.add": _row(
        JSON_TOO, "reactions:write", "SPEC consumes form+json; SPEC slackAuth: reactions:write"
    ),
    # Source: docs.slack.dev/reference/methods/apps.connections.open — app-level token with
    # connections:write (an app-token scope, not a bot scope, so not checked against the bot's).
    "apps.connections.open": _row(
        JSON_TOO, None, "docs.slack.dev/reference/methods/apps.connections.open"
    ),
}


def contract(method: str) -> MethodContract | None:
    return CONTRACT.get(method)


MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"


def manifest_bot_scopes(path: Path = MANIFEST) -> frozenset[str]:
    """The bot scopes ``manifest.yml`` asks for (``oauth_config.scopes.bot``).

    Source: docs.slack.dev/reference/app-manifest — a token is granted the scopes the app's
    manifest requests at install, no more.
    """
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    scopes = ((data.get("oauth_config") or {}).get("scopes") or {}).get("bot") or []
    return frozenset(str(s) for s in scopes)


def manifest_features(path: Path = MANIFEST) -> dict[str, object]:
    """``features`` of ``manifest.yml``, e.g. whether ``agent_view`` is there.

    Source: docs.slack.dev/reference/app-manifest — ``features.agent_view`` (with
    ``agent_description``) turns on the Agent messaging experience; docs.slack.dev/reference/
    events/app_context_changed — "The agent_view feature must be enabled in order to receive this
    event".
    """
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return dict(data.get("features") or {})
