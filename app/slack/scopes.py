"""Which Slack bot scopes Steward's features need, and why: the one table behind `manifest.yml`.

`steward doctor` compares a token's granted scopes (Slack's `x-oauth-scopes` header) with this
table for the features the policy turns on, and a test keeps the table equal to the manifest,
so no scope is asked for without a reason and none a feature needs is missing.

Not asked for, on purpose: `chat:write.public`. It would let Steward post into public channels
it is not a member of, invisibly to the channel's member list. Steward joins a public channel
instead (`channels:join`, shown in the channel as "Steward joined"), so the people there can see
it is present and remove it; private channels need a person to invite it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Need:
    scope: str
    feature: str  # "core", or a use case / capability a policy can turn on
    why: str


NEEDS: tuple[Need, ...] = (
    Need("commands", "core", "the /summarize, /draft and /steward commands"),
    Need("chat:write", "core", "private answers, shared summaries, posted drafts"),
    Need("im:write", "core", "direct messages to requesters, approvers and admins"),
    Need("im:read", "core", "knowing a DM is a DM before answering in it"),
    Need("im:history", "core", "reading DMs sent to Steward"),
    Need("assistant:write", "core", "suggested prompts and thread titles in the agent pane"),
    Need("app_mentions:read", "core", "@Steward mentions in channels and threads"),
    Need("users:read", "core", "names of authors and requesters instead of IDs"),
    Need("channels:read", "core", "whether a channel is public and Steward is in it"),
    Need("groups:read", "core", "whether a private channel's requester is a member"),
    Need("mpim:read", "core", "whether a group DM's requester is a member"),
    Need("channels:join", "core", "joining a public channel before posting or reading there"),
    Need("channels:history", "summarize", "reading public channels and threads"),
    Need("groups:history", "summarize", "reading private channels Steward was invited to"),
    Need("mpim:history", "summarize", "reading group DMs Steward was added to"),
    Need("channels:history", "draft", "a reply's thread as context"),
    Need("groups:history", "draft", "a reply's thread in a private channel"),
    Need("usergroups:read", "approvals", "approver groups written as @user-group handles"),
    Need("files:write", "audit export", "the Export file sent to an admin's DM"),
    # conversations.list / users.list / usergroups.list (app/slack/directory.py), per the spec.
    Need("channels:read", "policy names", "#channel names in the policy (conversations.list)"),
    Need("groups:read", "policy names", "#names of private channels Steward is in"),
    Need("users:read", "policy names", "@person names in the policy (users.list)"),
    Need("usergroups:read", "policy names", "@user-group names in the policy (usergroups.list)"),
)


def all_scopes() -> set[str]:
    return {need.scope for need in NEEDS}


def needed(features: Iterable[str]) -> dict[str, list[Need]]:
    """scope → the needs behind it, for the given features."""
    wanted = set(features)
    out: dict[str, list[Need]] = {}
    for need in NEEDS:
        if need.feature in wanted:
            out.setdefault(need.scope, []).append(need)
    return out
