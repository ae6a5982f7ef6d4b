"""An interaction's latest state: the hash the append script keeps beside the stream."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from app.audit.event import ApprovalStatus, AuditEvent, EventName


class InteractionState(BaseModel):
    """An interaction's latest state, kept beside the stream so reading it never scans."""

    model_config = ConfigDict(extra="ignore")

    interaction_id: str
    created_at: str
    updated_at: str
    event: EventName
    last_event_id: int
    approval_status: ApprovalStatus | None = None
    output: str | None = None
    approver_id: str | None = None
    actor_id: str | None = None  # who started the interaction (first event's actor)
    team_id: str | None = None
    channel_id: str | None = None
    use_case: str | None = None
    confidence: float | None = None
    reason: str | None = None
    rule: str | None = None


# State fields the latest event overwrites (when it carries them) ...
STATE_LATEST = ("approval_status", "output", "approver_id", "confidence", "reason", "rule")
# ... and fields that describe the interaction itself, so the first event to carry them wins.
STATE_FIRST = ("actor_id", "team_id", "channel_id", "use_case")


def state_fields(event: AuditEvent) -> tuple[dict[str, str], dict[str, str]]:
    """The append script's state fields: (latest-wins, first-wins), as strings.

    Absent fields are left out, so an approval (no output) keeps the draft's output.
    """

    def present(names: tuple[str, ...]) -> dict[str, str]:
        values = {name: getattr(event, name) for name in names}
        return {k: str(v) for k, v in values.items() if v is not None}

    return present(STATE_LATEST), present(STATE_FIRST)
