"""Roles: the one answer to "may this person do this governance action?" (`may`), and what to
call them (`role_of`). Every check for "admin" in Steward goes through here, in the job that does
the work, so a forged click gets the same answer as a real one.

- `admin` (policy `admins`): everything.
- `auditor` (policy `auditors`): reads — the audit, Why? on any interaction, the export, the
  usage views. An auditor's job is to watch, so nothing that changes what Steward does: no
  policy change, no pause or resume, no deciding use-case requests, no revoking grants.
- `approver`: listed by user ID in a policy group. Which drafts an approver may decide is the
  approval flow's question (app/drafts/approvals.py, which also expands `@user-group` handles);
  the role here only names it for `/steward policy`, and grants no action of this table.
- `member`: everyone else.
"""

from __future__ import annotations

from typing import Literal

from app.governance.policy_schema import Policy

Role = Literal["admin", "auditor", "approver", "member"]
Action = Literal[
    "audit.read",  # /steward audit, the admin App Home's audit view
    "audit.export",  # the Export button
    "usage.read",  # /steward usage
    "why.any",  # Why? on an interaction the person has no part in
    "pause",  # /steward pause and resume
    "policy.change",  # anything that changes what the policy allows
    "requests.decide",  # approve or reject a use-case request
    "grants.revoke",  # revoke a granted request
    "posts.cancel",  # stop an approved draft's scheduled post
]

READS: frozenset[Action] = frozenset({"audit.read", "audit.export", "usage.read", "why.any"})

_ALLOWED: dict[Role, frozenset[Action]] = {
    "admin": frozenset(
        {*READS, "pause", "policy.change", "requests.decide", "grants.revoke", "posts.cancel"}
    ),
    "auditor": READS,
    "approver": frozenset(),
    "member": frozenset(),
}


def role_of(policy: Policy, user_id: str) -> Role:
    """The person's strongest role under `policy`."""
    if user_id in policy.admins:
        return "admin"
    if user_id in policy.auditors:
        return "auditor"
    if any(user_id in members for members in policy.groups.values()):
        return "approver"
    return "member"


def may(policy: Policy, user_id: str, action: Action) -> bool:
    return action in _ALLOWED[role_of(policy, user_id)]


def open_to(action: Action) -> str:
    """Who may do `action`, in words: "admins" or "admins and auditors"."""
    return "admins and auditors" if action in READS else "admins"
