"""What one audit event is: its model, its names and statuses, and the context it is told in.

A leaf of the package (it imports only the chain format), so the log, observability, the views
and the use cases can all name an `AuditEvent` without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from app.audit.chain import GENESIS_HASH, stored_json

EventName = Literal[
    "requested",
    "generated",
    "shared",
    "approval_requested",
    "approved",
    "rejected",
    "edited",
    "escalated",
    "expired",
    "posted",
    "discarded",
    "refused",
    "failed",
    "feedback",
    "policy_changed",
    "use_case_requested",
    "use_case_granted",
    "grant_expired",
    "paused",
    "resumed",
    "hold_placed",
    "hold_released",
    "audit_verified",
    "model_evaluated",
]
ApprovalStatus = Literal[
    "not_required", "pending", "approved", "rejected", "escalated", "expired", "withdrawn"
]

ASKING_EVENTS = frozenset({"approval_requested", "escalated"})  # events that name approvers


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_at(moment: datetime) -> str:
    """ISO-8601 UTC with a fixed width, so timestamps also compare correctly as strings."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class AuditEvent(BaseModel):
    """One audit event, as PRODUCT.md defines it."""

    # Unknown keys are ignored so events written by a newer version still load; verification
    # never goes through this model (it hashes the stored JSON), so that is safe.
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    id: int  # position in the chain, 1-based, never reused (survives trims)
    at: str
    interaction_id: str
    event: EventName
    actor_id: str | None = None
    team_id: str | None = None
    channel_id: str | None = None
    use_case: str | None = None
    approval_status: ApprovalStatus | None = None
    model: str | None = None
    engine: str | None = None
    prompt_version: str | None = None
    sources: list[str] = Field(default_factory=list)
    output: str | None = None
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    tokens_in: int | None = Field(default=None, ge=0)
    tokens_out: int | None = Field(default=None, ge=0)
    latency_ms: float | None = Field(default=None, ge=0.0)
    redactions: dict[str, int] = Field(default_factory=dict)
    reason: str | None = None
    approver_id: str | None = None
    rule: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str = GENESIS_HASH
    hash: str = ""

    def to_json(self) -> str:
        return stored_json(self.model_dump(mode="json"))


class AuditContext(BaseModel):
    """Who, where and under which rule: what every event of one interaction carries.

    A use case builds it once and passes it to `AuditLog.record_in` with each event's details,
    instead of splatting a dict of these fields into `record`.
    """

    model_config = ConfigDict(frozen=True)

    interaction_id: str
    actor_id: str | None = None
    team_id: str | None = None
    channel_id: str | None = None
    use_case: str | None = None
    rule: str | None = None


class AuditDetail(TypedDict, total=False):
    """What one event adds to its `AuditContext` (a `rule` here overrides the context's)."""

    approval_status: ApprovalStatus
    model: str
    engine: str
    prompt_version: str
    sources: list[str]
    output: str
    confidence: float
    tokens_in: int
    tokens_out: int
    latency_ms: float
    redactions: dict[str, int]
    reason: str
    approver_id: str
    rule: str
    extra: dict[str, Any]


def approvers_named(event: AuditEvent | Mapping[str, Any]) -> list[str]:
    """The user IDs an `approval_requested` or `escalated` event asks (`extra["approvers"]`)."""
    name: Any
    extra: Any
    if isinstance(event, AuditEvent):
        name, extra = event.event, event.extra
    else:
        name, extra = event.get("event"), event.get("extra") or {}
    if name not in ASKING_EVENTS or not isinstance(extra, dict):
        return []
    named = extra.get("approvers") or []
    if not isinstance(named, list):
        return []
    return sorted({str(user) for user in named if isinstance(user, str) and user})


def encodable(event: AuditEvent) -> AuditEvent:
    """Slack text can carry lone surrogates (from `\\ud800` escapes) that UTF-8 cannot encode;
    they become U+FFFD rather than making the audit write, and so the interaction, fail."""
    text = event.to_json()
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        clean = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        return AuditEvent.model_validate_json(clean)
    return event
