"""“Why?”: who may see the trace of one AI interaction, and showing it to them.

The trace itself (read back from the audit events) and its modal are in `app.audit.trace_view`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from app.audit.event import AuditEvent
from app.audit.trace_view import build_trace, why_modal
from app.governance import policy_schema as policy_
from app.governance import resolution
from app.runtime.services import Services
from app.slack.reply import ReplyTo

PUBLIC_EVENTS = {"shared", "posted"}


class WhyRequest(BaseModel):
    interaction_id: str
    user_id: str
    team_id: str
    trigger_id: str
    channel_id: str | None = None
    response_url: str | None = None


def may_see(events: Sequence[AuditEvent], user_id: str, policy: policy_.Policy) -> bool:
    """The requester, admins, the interaction's approvers (asked or deciding), or anyone once
    it was made public."""
    if resolution.is_admin(policy, user_id):
        return True
    if any(e.event in PUBLIC_EVENTS for e in events):
        return True
    asked = {a for e in events if e.event == "approval_requested" for a in _approvers(e)}
    return user_id in asked or any(user_id in (e.actor_id, e.approver_id) for e in events)


def _approvers(event: AuditEvent) -> list[str]:
    approvers = event.extra.get("approvers") or []
    return [str(a) for a in approvers] if isinstance(approvers, list) else []


async def run_why(services: Services, req: WhyRequest) -> None:
    events = await services.audit.events_for(req.interaction_id)
    if not events or not may_see(events, req.user_id, services.policy):
        await services.audit.record(
            event="refused",
            interaction_id=req.interaction_id,
            actor_id=req.user_id,
            team_id=req.team_id,
            channel_id=req.channel_id,
            reason="why: not allowed" if events else "why: unknown interaction",
        )
        await services.slack.tell(
            ReplyTo.of(req), ":lock: You can't see the trace of that interaction."
        )
        return
    await services.slack.open_view(req.trigger_id, why_modal(build_trace(events)))
