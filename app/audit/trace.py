"""“Why?”: the trace of one AI interaction, read back from its audit events.

The trace is a view of the audit trail, not a second record: what the modal shows is exactly
what an admin would find in an export.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from app.audit.log import AuditEvent
from app.governance import policy_schema as policy_
from app.governance import resolution
from app.runtime.services import Services
from app.slack.reply import ReplyTo
from app.summaries.views import why_modal

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


def _generated(events: Sequence[AuditEvent]) -> AuditEvent | None:
    return next((e for e in reversed(events) if e.event == "generated"), None)


def _confidence(event: AuditEvent) -> str:
    detail = event.extra.get("confidence") or {}
    if event.confidence is None:
        return "—"
    parts = [f"{detail.get('label', '')} ({event.confidence:.2f})".strip()]
    if "grounding" in detail:
        parts.append(f"grounding {detail['grounding']:.2f}")
    if "citation_validity" in detail:
        parts.append(f"valid citations {detail['citation_validity']:.2f}")
    if detail.get("logprob_score") is not None:
        parts.append(f"token probability {detail['logprob_score']:.2f}")
    elif detail.get("basis"):
        parts.append(str(detail["basis"]))  # e.g. a reasoning model: grounding only, and why
    return " · ".join(parts)


def build_trace(events: Sequence[AuditEvent]) -> dict[str, Any]:
    """What the Why? modal shows, from the interaction's events."""
    trace: dict[str, Any] = {"interaction_id": events[0].interaction_id if events else "?"}
    trace["events"] = " → ".join(e.event for e in events) or "—"
    statuses = [e.approval_status for e in events if e.approval_status]
    trace["approval"] = (statuses[-1] or "—").replace("_", " ") if statuses else "—"
    rules = [e.rule for e in events if e.rule]
    trace["rule"] = rules[-1] if rules else "—"
    approvers = [e.approver_id for e in events if e.approver_id]
    if approvers:
        trace["approval"] += f" (by <@{approvers[-1]}>)"
    generated = _generated(events)
    if generated is None:
        return trace
    calls = generated.extra.get("model_calls", 0)
    cached = generated.extra.get("cached_chunks", 0)
    trace["sources"] = generated.extra.get("span") or f"{len(generated.sources)} messages"
    trace["engine"] = f"{generated.engine} · {generated.model}"
    trace["prompt_version"] = generated.prompt_version or "—"
    redactions = ", ".join(f"{k}: {v}" for k, v in sorted(generated.redactions.items()))
    trace["redactions"] = redactions or "none"
    trace["confidence"] = _confidence(generated)
    trace["tokens"] = (
        f"{generated.tokens_in or 0} in / {generated.tokens_out or 0} out · "
        f"{calls} model call(s), {cached} cached chunk(s)"
    )
    trace["latency"] = f"{(generated.latency_ms or 0) / 1000:.2f} s"
    return trace


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
