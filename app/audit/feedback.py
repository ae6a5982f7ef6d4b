"""👍 / 👎 on an AI output, recorded as `feedback` audit events for the dashboard."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

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
    state = await services.audit.state(req.interaction_id)
    await services.audit.record(
        event="feedback",
        interaction_id=req.interaction_id,
        actor_id=req.user_id,
        team_id=req.team_id,
        channel_id=state.channel_id if state else req.channel_id,
        use_case=state.use_case if state else None,
        reason=req.verdict,
    )
    thanks = (
        "Thanks — noted as helpful." if req.verdict == "up" else "Thanks — noted as not helpful."
    )
    await services.slack.tell(ReplyTo.of(req), thanks)
