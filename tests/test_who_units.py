"""Pure parts of "who" (issue 14): `users` / `deny_users` checks and resolution, and the roles."""

from __future__ import annotations

import pytest

from app.governance.audience import handles_needed, verdict
from app.governance.diff import diff
from app.governance.policy import check_policy_text, load_policy_text
from app.governance.policy_schema import Policy
from app.governance.resolution import channel_rule, resolve
from app.governance.roles import Action, may, role_of

POLICY = """\
admins: [U0ADMIN]
auditors: [U0AUDIT]
groups:
  managers: [U0MGR1, "@eng-managers"]
use_cases:
  summarize:
    users: [managers, U0EMP]
    deny_users: ["@contractors"]
  draft: {}
channels:
  C0LAUNCH:
    summarize: {users: [U0LEAD], deny_users: [U0EMP]}
"""


@pytest.fixture
def policy() -> Policy:
    return load_policy_text(POLICY)


def test_bad_entries_and_unknown_groups_are_reported_with_lines() -> None:
    text = """\
admins: [U0ADMIN]
auditors: [alice]
groups:
  managers: [U0MGR1]
use_cases:
  summarize:
    users: [mangers, "@Eng Managers", 7]
channels:
  C0LAUNCH:
    summarize:
      deny_users: [legal]
"""
    problems = [str(p) for p in check_policy_text(text)]
    assert problems == [
        "line 2: auditors[0]: 'alice' is not a Slack user ID (like U0123ABCD) or @name",
        "line 7: use_cases.summarize.users[0]: unknown group 'mangers' (did you mean 'managers'?)",
        "line 7: use_cases.summarize.users[1]: '@Eng Managers' is not a Slack user ID (like "
        'U0123ABCD), a user group handle (like "@eng-managers") or a group name from `groups`',
        "line 7: use_cases.summarize.users[2]: 7 is not a Slack user ID (like U0123ABCD), a "
        'user group handle (like "@eng-managers") or a group name from `groups`',
        "line 11: channels.C0LAUNCH.summarize.deny_users[0]: unknown group 'legal'",
    ]


def test_users_absent_means_everyone_and_empty_means_nobody() -> None:
    open_ = load_policy_text("use_cases:\n  summarize: {}\n")
    assert verdict(open_, "U0ANY", "summarize", "C0GENERAL").allowed
    closed = load_policy_text("use_cases:\n  summarize: {users: []}\n")
    shut = verdict(closed, "U0ANY", "summarize", "C0GENERAL")
    assert not shut.allowed and "limited to nobody" in shut.reason


def test_ids_groups_and_handles_let_people_in(policy: Policy) -> None:
    assert verdict(policy, "U0EMP", "summarize", "C0GENERAL").rule == "use_cases.summarize.users"
    assert verdict(policy, "U0MGR1", "summarize", "C0GENERAL").allowed  # via group `managers`
    assert verdict(policy, "U0X", "summarize", "C0GENERAL", ["@ENG-managers"]).allowed
    out = verdict(policy, "U0X", "summarize", "C0GENERAL")
    assert not out.allowed
    assert out.reason == (
        "'summarize' in <#C0GENERAL> is limited to managers and 1 other by the policy "
        "(use_cases.summarize.users)."
    )


def test_deny_wins_and_overrides_replace_users_but_add_denials(policy: Policy) -> None:
    contractor = verdict(policy, "U0MGR1", "summarize", "C0GENERAL", ["@contractors"])
    assert (contractor.allowed, contractor.rule) == (False, "use_cases.summarize.deny_users")
    # In #launch the override's `users` replaces the use case's, and its deny adds to it.
    assert verdict(policy, "U0LEAD", "summarize", "C0LAUNCH").allowed
    assert not verdict(policy, "U0MGR1", "summarize", "C0LAUNCH").allowed
    assert verdict(policy, "U0EMP", "summarize", "C0LAUNCH").rule == (
        "channels.C0LAUNCH.summarize.deny_users"
    )
    assert handles_needed(policy, "summarize", "C0LAUNCH") == ["@eng-managers", "@contractors"]
    assert handles_needed(policy, "draft", "C0LAUNCH") == []


def test_resolution_refuses_with_the_who_rule_even_where_the_channel_is_on(policy: Policy) -> None:
    refused = resolve(policy, "U0X", "summarize", "C0GENERAL")
    assert (refused.allowed, refused.rule) == (False, "use_cases.summarize.users")
    allowed = resolve(policy, "U0EMP", "summarize", "C0GENERAL")
    assert allowed.allowed and allowed.audience_rule == "use_cases.summarize.users"
    assert resolve(policy, "U0X", "draft", "C0GENERAL").audience_rule == ""


READS: list[Action] = ["audit.read", "audit.export", "usage.read", "why.any"]
CHANGES: list[Action] = ["pause", "policy.change", "requests.decide", "grants.revoke"]


def test_one_role_check(policy: Policy) -> None:
    assert [role_of(policy, u) for u in ("U0ADMIN", "U0AUDIT", "U0MGR1", "U0EMP")] == [
        "admin",
        "auditor",
        "approver",
        "member",
    ]
    assert all(may(policy, "U0ADMIN", a) for a in READS + CHANGES)
    assert all(may(policy, "U0AUDIT", a) for a in READS)
    assert not any(may(policy, "U0AUDIT", a) for a in CHANGES)
    assert not any(may(policy, u, a) for u in ("U0MGR1", "U0EMP") for a in READS + CHANGES)


def test_who_changes_are_policy_changes(policy: Policy) -> None:
    changed = load_policy_text(
        POLICY.replace("auditors: [U0AUDIT]", "auditors: [U0AUDIT, U0AUD2]").replace(
            "users: [managers, U0EMP]", "users: [managers]"
        )
    )
    assert diff(policy, changed) == [
        "auditors: U0AUDIT → U0AUD2, U0AUDIT",
        "use_cases.summarize.users: managers, U0EMP → managers",
    ]


def test_a_channel_question_ignores_who_asks() -> None:
    policy = load_policy_text(
        "use_cases:\n  summarize: {channels: [C0GENERAL], users: [U0EMP]}\n"
        "channels:\n  C0LEADERSHIP:\n    summarize: {enabled: false}\n"
    )
    assert channel_rule(policy, "summarize", "C0GENERAL") == (
        True,
        "use_cases.summarize (channels: C0GENERAL)",
    )
    assert channel_rule(policy, "summarize", "C0LAUNCH") == (False, "use_cases.summarize.channels")
    assert channel_rule(policy, "summarize", "C0LEADERSHIP") == (
        False,
        "channels.C0LEADERSHIP.summarize.enabled",
    )
