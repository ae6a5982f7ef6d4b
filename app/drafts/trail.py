"""A draft's audit events: every step of a draft's life recorded with the draft's own context
(requester's team, target channel, the rule that applied)."""

from __future__ import annotations

from typing import Any

from app.audit.event import ApprovalStatus, EventName
from app.drafts.store import DraftState
from app.runtime.services import Services

USE_CASE = "draft"


async def audit(
    services: Services,
    state: DraftState,
    event: EventName,
    *,
    actor_id: str | None,
    approval_status: ApprovalStatus | None,
    **fields: Any,
) -> None:
    r = state.record
    await services.audit.record(
        interaction_id=r.interaction_id,
        event=event,
        actor_id=actor_id,
        team_id=r.team_id,
        channel_id=r.channel_id,
        use_case=USE_CASE,
        approval_status=approval_status,
        rule=fields.pop("rule", r.rule or None),
        **fields,
    )
