"""The admin gate: `require_admin()`, used by everything only the policy's `admins` may do
(`/steward pause|resume|audit|usage`, the audit Export button, deciding use-case requests,
revoking grants). Checked in the job, so a forged click is refused too.

A refusal has one shape: a `refused` audit event under a fresh interaction id with
`reason = "<what>: admins only"` and `extra.command = what`, and one private message to the
person naming what they cannot do.
"""

from __future__ import annotations

import uuid

from app.governance import resolution
from app.runtime.services import Services
from app.slack.reply import ReplyTo


def refusal_text(what: str, can: str) -> str:
    return f":lock: Only Steward admins can {can} (`{what}` is for admins only)."


async def require_admin(
    services: Services,
    reply_to: ReplyTo,
    team_id: str,
    what: str,
    can: str,
    *,
    channel_id: str | None = None,
    use_case: str | None = None,
) -> bool:
    """True when `reply_to.user_id` is an admin under the policy in force; otherwise records the
    refusal, tells the person, and returns False.

    `what` names the command or button (`/steward pause`, `/steward request approve`) for the
    audit trail; `can` says in words what only admins can do ("pause AI"). `channel_id` is the
    channel the refused action was about (default: where it was asked), `use_case` likewise.
    """
    if resolution.is_admin(services.policy, reply_to.user_id):
        return True
    await services.audit.record(
        interaction_id=uuid.uuid4().hex,
        event="refused",
        actor_id=reply_to.user_id,
        team_id=team_id,
        channel_id=channel_id if channel_id is not None else reply_to.channel_id,
        use_case=use_case,
        reason=f"{what}: admins only",
        extra={"command": what},
    )
    await services.slack.tell(reply_to, refusal_text(what, can))
    return False
