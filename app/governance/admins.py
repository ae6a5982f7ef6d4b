"""The role gate: `require_role()`, used by everything only some roles may do
(`/steward pause|resume|audit|usage`, the audit Export button, deciding use-case requests,
revoking grants, cancelling a post). Who may do what is app/governance/roles.py. Checked in the
job, so a forged click is refused too.

A refusal has one shape: a `refused` audit event under a fresh interaction id with
`reason = "<what>: admins only"` (or "admins and auditors only") and `extra.command = what`, and
one private message to the person naming what they cannot do.
"""

from __future__ import annotations

import uuid

from app.governance import roles
from app.runtime.services import Services
from app.slack.reply import ReplyTo


def refusal_text(what: str, can: str, who: str = "admins") -> str:
    return f":lock: Only Steward {who} can {can} (`{what}` is for {who} only)."


async def require_role(
    services: Services,
    reply_to: ReplyTo,
    team_id: str,
    what: str,
    can: str,
    *,
    action: roles.Action,
    channel_id: str | None = None,
    use_case: str | None = None,
) -> bool:
    """True when `reply_to.user_id` may do `action` under the policy in force; otherwise records
    the refusal, tells the person, and returns False.

    `what` names the command or button (`/steward pause`, `/steward request approve`) for the
    audit trail; `can` says in words what the action does ("pause AI"). `channel_id` is the
    channel the refused action was about (default: where it was asked), `use_case` likewise.
    """
    if roles.may(services.policy, reply_to.user_id, action):
        return True
    who = roles.open_to(action)
    await services.audit.record(
        interaction_id=uuid.uuid4().hex,
        event="refused",
        actor_id=reply_to.user_id,
        team_id=team_id,
        channel_id=channel_id if channel_id is not None else reply_to.channel_id,
        use_case=use_case,
        reason=f"{what}: {who} only",
        extra={"command": what},
    )
    await services.slack.tell(reply_to, refusal_text(what, can, who))
    return False
