"""Builders for the payloads Slack sends to an app, field for field.

Pure functions of the workspace state and a few handles (trigger ID, response URL), so the
exact shapes are easy to read and compare with Slack's documentation.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from .records import Channel, Ephemeral, Message, ViewRecord
from .workspace import Workspace

JsonDict = dict[str, Any]
VERIFICATION_TOKEN = "sandbox-verification-token"


def _action_ts() -> str:
    return f"{time.time():.6f}"


def _team(ws: Workspace) -> JsonDict:
    return {"id": ws.team_id, "domain": ws.domain}


def _user(ws: Workspace, user_id: str) -> JsonDict:
    name = ws.users[user_id].name
    return {"id": user_id, "username": name, "name": name, "team_id": ws.team_id}


def _channel(channel: Channel) -> JsonDict:
    return {"id": channel.id, "name": "directmessage" if channel.is_im else channel.name}


def slash_command(
    ws: Workspace,
    user_id: str,
    channel: Channel,
    command: str,
    text: str,
    *,
    trigger_id: str,
    response_url: str,
) -> dict[str, str]:
    """The form fields of a slash command request."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": ws.team_id,
        "team_domain": ws.domain,
        "channel_id": channel.id,
        "channel_name": "directmessage" if channel.is_im else channel.name,
        "user_id": user_id,
        "user_name": ws.users[user_id].name,
        "command": command,
        "text": text,
        "api_app_id": ws.app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def message_action(
    ws: Workspace,
    user_id: str,
    channel: Channel,
    message: Message,
    callback_id: str,
    *,
    trigger_id: str,
    response_url: str,
) -> JsonDict:
    """A message shortcut (``type: message_action``) invoked on ``message``."""
    return {
        "type": "message_action",
        "token": VERIFICATION_TOKEN,
        "action_ts": _action_ts(),
        "team": _team(ws),
        "user": _user(ws, user_id),
        "channel": _channel(channel),
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id,
        "response_url": response_url,
        "message_ts": message.ts,
        "message": message.to_api(),
    }


def global_shortcut(ws: Workspace, user_id: str, callback_id: str, *, trigger_id: str) -> JsonDict:
    return {
        "type": "shortcut",
        "token": VERIFICATION_TOKEN,
        "action_ts": _action_ts(),
        "team": _team(ws),
        "user": _user(ws, user_id),
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id,
    }


def _action(button: JsonDict, block_id: str) -> JsonDict:
    action: JsonDict = {
        "action_id": button.get("action_id", ""),
        "block_id": block_id,
        "text": button.get("text"),
        "type": "button",
        "action_ts": _action_ts(),
    }
    for key in ("value", "style"):
        if key in button:
            action[key] = button[key]
    return action


def _block_actions_base(ws: Workspace, user_id: str, trigger_id: str) -> JsonDict:
    return {
        "type": "block_actions",
        "user": _user(ws, user_id),
        "api_app_id": ws.app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "team": _team(ws),
        "enterprise": None,
        "is_enterprise_install": False,
    }


def block_actions_on_message(
    ws: Workspace,
    user_id: str,
    channel: Channel,
    source: Message | Ephemeral,
    button: JsonDict,
    block_id: str,
    *,
    trigger_id: str,
    response_url: str,
) -> JsonDict:
    """A button click in a channel message or an ephemeral message."""
    is_ephemeral = isinstance(source, Ephemeral)
    container: JsonDict = {
        "type": "message",
        "message_ts": source.ts,
        "channel_id": channel.id,
        "is_ephemeral": is_ephemeral,
    }
    if source.thread_ts:
        container["thread_ts"] = source.thread_ts
    payload = _block_actions_base(ws, user_id, trigger_id)
    payload.update(
        container=container,
        channel=_channel(channel),
        message=source.to_api(),
        state={"values": {}},
        response_url=response_url,
        actions=[_action(button, block_id)],
    )
    return payload


def block_actions_in_view(
    ws: Workspace,
    user_id: str,
    view: ViewRecord,
    button: JsonDict,
    block_id: str,
    *,
    trigger_id: str,
) -> JsonDict:
    """A button click inside a modal or the App Home."""
    payload = _block_actions_base(ws, user_id, trigger_id)
    payload.update(
        container={"type": "view", "view_id": view.id},
        view=view.to_api(),
        actions=[_action(button, block_id)],
    )
    return payload


def view_submission(ws: Workspace, user_id: str, view: ViewRecord, *, trigger_id: str) -> JsonDict:
    return {
        "type": "view_submission",
        "team": _team(ws),
        "user": _user(ws, user_id),
        "api_app_id": ws.app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "view": view.to_api(),
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def view_closed(ws: Workspace, user_id: str, view: ViewRecord) -> JsonDict:
    return {
        "type": "view_closed",
        "team": _team(ws),
        "user": _user(ws, user_id),
        "api_app_id": ws.app_id,
        "token": VERIFICATION_TOKEN,
        "view": view.to_api(),
        "is_cleared": False,
        "is_enterprise_install": False,
        "enterprise": None,
    }


def event_callback(ws: Workspace, event: JsonDict, event_id: str | None = None) -> JsonDict:
    """The Events API envelope around ``event``; reuse ``event_id`` for retries."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": ws.team_id,
        "api_app_id": ws.app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": ws.team_id,
                "user_id": ws.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{secrets.token_hex(12)}",
    }


def message_event(ws: Workspace, message: Message, channel: Channel) -> JsonDict:
    """``message`` (``message.im`` etc.) or ``app_mention`` for a user's new message."""
    mentions_bot = f"<@{ws.bot_user_id}>" in message.text
    event: JsonDict = {
        "type": "app_mention" if mentions_bot and not channel.is_im else "message",
        "user": message.user,
        "text": message.text,
        "ts": message.ts,
        "channel": channel.id,
        "event_ts": message.ts,
        "team": ws.team_id,
        "blocks": message.blocks,
    }
    if event["type"] == "message":
        event["channel_type"] = (
            "im" if channel.is_im else ("group" if channel.is_private else "channel")
        )
    if message.thread_ts:
        event["thread_ts"] = message.thread_ts
    return event


def app_home_opened(
    ws: Workspace, user_id: str, channel: Channel, home: ViewRecord | None
) -> JsonDict:
    event: JsonDict = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": channel.id,
        "tab": "home",
        "event_ts": _action_ts(),
    }
    if home is not None:
        event["view"] = home.to_api()
    return event


def url_verification(challenge: str) -> JsonDict:
    return {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
