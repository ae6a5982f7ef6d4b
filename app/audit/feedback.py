"""👍 / 👎 on an AI output, recorded as `feedback` audit events for the dashboard.

Checked like any other click, on the server: only someone who may see the output (the same roles
as its Why?, `app/audit/trace.py`) may rate it. Anyone else is refused, and the refusal audited.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from app.audit.trace import visible_events
from app.runtime.services import Services
from app.slack.reply import ReplyTo


class FeedbackRequest(BaseModel):
    interaction_id: str
    user_id: str
    team_id: str
    verdict: Literal["up", "down"]
    channel_id: str | None = None
    response_url: str | None = None


async def run_feedback(services: Services, req: FeedbackRequest) -> None:
    events = await visible_events(
        services, req, "feedback", ":lock: You can only rate an answer you were given."
    )
    if events is None:
        return
    first = events[0]
    await services.audit.record(
        event="feedback",
        interaction_id=req.interaction_id,
        actor_id=req.user_id,
        team_id=req.team_id,
        channel_id=first.channel_id or req.channel_id,
        use_case=first.use_case,
        reason=req.verdict,
    )
    thanks = (
        "Thanks — noted as helpful." if req.verdict == "up" else "Thanks — noted as not helpful."
    )
    await services.slack.tell(ReplyTo.of(req), thanks)
