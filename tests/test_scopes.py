"""The scope table behind manifest.yml: every scope asked for has a reason, and none is missing."""

from __future__ import annotations

from pathlib import Path

import yaml

from app.doctor import features_in_use
from app.governance.policy import load_policy_text
from app.slack import scopes

MANIFEST = Path(__file__).resolve().parent.parent / "manifest.yml"


def manifest_scopes() -> set[str]:
    return set(yaml.safe_load(MANIFEST.read_text())["oauth_config"]["scopes"]["bot"])


def test_the_manifest_asks_for_exactly_the_scopes_the_table_explains() -> None:
    assert manifest_scopes() == scopes.all_scopes()


def test_chat_write_public_is_not_asked_for() -> None:
    # Steward joins public channels visibly instead (see app/slack/scopes.py).
    assert "chat:write.public" not in manifest_scopes()
    assert "channels:join" in manifest_scopes()


def test_needed_scopes_follow_the_policy() -> None:
    plain = load_policy_text("use_cases:\n  draft:\n    channels: ['*']\n")
    assert "channels:history" in scopes.needed(features_in_use(plain))
    assert "usergroups:read" not in scopes.needed(features_in_use(plain))
    grouped = load_policy_text(
        "groups:\n  legal: ['@legal-team']\nuse_cases:\n  draft:\n    channels: ['*']\n"
        "    approval: {required: true, approvers: legal}\n"
    )
    assert "usergroups:read" in scopes.needed(features_in_use(grouped))
