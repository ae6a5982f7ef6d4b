"""“Why?”: who may see the trace of one AI interaction, and showing it to them.

Visibility is decided by role only, from the interaction's own audit trail and the policy in
force — never by "has any event on it": a refused click or a 👎 writes an event too, and must not
unlock the trace on the next click. Who may see it:

- the requester (the actor of its `requested` event);
- the approvers of its steps: everyone asked (`approval_requested` / `escalated` name them) and
  whoever decided (`approver_id` on `approved` / `rejected` / `edited`);
- the roles that may see any trace (`why.any` in app/governance/roles.py: admins, auditors).

A shared summary or a posted draft does not open the trace to everyone: those messages carry no
Why? button (the trace holds more than the post — the sources read, the request, edits, who was
asked), so a Why? click on them can only be forged. Feedback is checked the same way
(`app/audit/feedback.py`): only someone who may see an output may rate it.

The trace itself (read back from the audit events) and its modal are in `app.audit.trace_view`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel

from app.audit.event import AuditEvent
from app.audit.trace_view import build_trace, why_modal
from app.governance import policy_schema as policy_
from app.governance import roles
from app.runtime.services import Services
from app.slack.reply import ReplyTo

# Events that name the approvers asked (in `extra.approvers`), and events whose `approver_id` is
# someone who decided. A `refused` event also lists the step's approvers, but it records a click
# by someone else and grants nothing.
ASKING_EVENTS = {"approval_requested", "escalated"}
DECIDING_EVENTS = {"approved", "rejected", "edited"}


class WhyRequest(BaseModel):
    interaction_id: str
    user_id: str
    team_id: str
    trigger_id: str
    channel_id: str | None = None
    response_url: str | None = None


def requester(events: Sequence[AuditEvent]) -> str | None:
    first = next((e for e in events if e.event == "requested"), None)
    return first.actor_id if first else None


def approvers(events: Sequence[AuditEvent]) -> set[str]:
    """Everyone asked to approve any step of the interaction, and everyone who decided."""
    asked = {a for e in events if e.event in ASKING_EVENTS for a in _approvers(e)}
    decided = {e.approver_id for e in events if e.event in DECIDING_EVENTS and e.approver_id}
    return asked | decided


def may_see(events: Sequence[AuditEvent], user_id: str, policy: policy_.Policy) -> bool:
    """By role only: the requester, the approvers of its steps (asked or deciding), admins and
    auditors. Nothing anyone clicked (refused, feedback) ever adds someone."""
    if roles.may(policy, user_id, "why.any"):
        return True
    return user_id == requester(events) or user_id in approvers(events)


def _approvers(event: AuditEvent) -> list[str]:
    named = event.extra.get("approvers") or []
    return [str(a) for a in named] if isinstance(named, list) else []


class _Click(Protocol):
    """A click on an AI output (Why?, 👍/👎): who clicked, on what, where."""

    @property
    def interaction_id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def team_id(self) -> str: ...
    @property
    def channel_id(self) -> str | None: ...
    @property
    def response_url(self) -> str | None: ...


async def visible_events(
    services: Services, click: _Click, what: str, refusal: str
) -> list[AuditEvent] | None:
    """The interaction's events when the clicker may see it; else one `refused` event (reason
    `"<what>: not allowed"`), the clicker told `refusal`, and None."""
    events = await services.audit.events_for(click.interaction_id)
    if events and may_see(events, click.user_id, services.policy):
        return list(events)
    await services.audit.record(
        event="refused",
        interaction_id=click.interaction_id,
        actor_id=click.user_id,
        team_id=click.team_id,
        channel_id=events[0].channel_id if events else click.channel_id,
        use_case=events[0].use_case if events else None,
        reason=f"{what}: not allowed" if events else f"{what}: unknown interaction",
    )
    await services.slack.tell(ReplyTo.of(click), refusal)
    return None


async def run_why(services: Services, req: WhyRequest) -> None:
    events = await visible_events(
        services, req, "why", ":lock: You can't see the trace of that interaction."
    )
    if events is not None:
        exporter = roles.may(services.policy, req.user_id, "audit.export")
        modal = why_modal(build_trace(events), evidence=exporter)
        await services.slack.open_view(req.trigger_id, modal)
