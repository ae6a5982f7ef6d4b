"""manifest.yml declares exactly the Slack surface PRODUCT.md promises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MANIFEST = Path(__file__).resolve().parent.parent / "manifest.yml"


def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(data, dict)
    return data


def test_commands_shortcuts_and_events() -> None:
    features = manifest()["features"]
    assert [c["command"] for c in features["slash_commands"]] == [
        "/summarize",
        "/draft",
        "/steward",
    ]
    shortcuts = {s["name"]: (s["type"], s["callback_id"]) for s in features["shortcuts"]}
    assert shortcuts == {
        "Summarize thread": ("message", "summarize_thread"),
        "Draft a reply": ("message", "draft_reply"),
    }
    events = set(manifest()["settings"]["event_subscriptions"]["bot_events"])
    assert events == {"app_mention", "app_home_opened", "app_context_changed", "message.im"}
    assert features["app_home"]["home_tab_enabled"] is True


def test_interactivity_and_the_scopes_the_app_uses() -> None:
    data = manifest()
    assert data["settings"]["interactivity"]["is_enabled"] is True
    scopes = set(data["oauth_config"]["scopes"]["bot"])
    needed = {
        "commands",
        "chat:write",  # replies, posts, ephemerals
        "app_mentions:read",
        "channels:history",  # summaries, draft context
        "groups:history",
        "im:history",
        "im:write",  # DMs (rejection reasons, admin requests)
        "users:read",  # names in summaries and attributions
        "usergroups:read",  # approver groups given as @handles
        "files:write",  # audit export to an admin's DM
    }
    assert needed <= scopes
    urls = {c["url"] for c in data["features"]["slash_commands"]}
    assert urls == {data["settings"]["interactivity"]["request_url"]}
    assert all(u.endswith("/slack/events") for u in urls)
