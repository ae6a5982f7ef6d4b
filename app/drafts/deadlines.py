"""An approval request's deadlines: escalation to the next step's group, then expiry.

Both are timers (`app/runtime/timers.py`) set when the draft is submitted, so the deadlines exist
before anyone is asked; a decision or a withdrawal cancels them, and a stray one that fires after
finds nothing pending and does nothing.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel

from app.drafts import keys
from app.drafts import views as view
from app.drafts.approval_message import show_escalation, show_outcome
from app.drafts.store import Drafts, DraftState
from app.drafts.trail import audit
from app.governance import policy_schema as policy_
from app.governance.approvers import members_of
from app.runtime import timers
from app.runtime.services import Services

TIMER_KIND = "approval_timer"


class TimerFired(BaseModel):
    interaction_id: str
    action: Literal["escalate", "expire"]
    step: int


async def schedule(services: Services, state: DraftState, rule: policy_.ApprovalRule) -> None:
    """Escalations and expiry, counted from the moment the draft was submitted."""
    rid = state.record.interaction_id
    submitted = state.submitted_at or state.record.created_at
    for n, step in enumerate(rule.steps[1:], 1):
        payload = TimerFired(interaction_id=rid, action="escalate", step=n)
        due = submitted + step.after.total_seconds()
        await timers.schedule(
            services.redis, keys.escalation_timer(rid, n), due, TIMER_KIND, payload
        )
    expire = TimerFired(interaction_id=rid, action="expire", step=len(rule.steps))
    await timers.schedule(
        services.redis,
        keys.expiry_timer(rid),
        submitted + rule.expire_after.total_seconds(),
        TIMER_KIND,
        expire,
    )


async def cancel(services: Services, state: DraftState) -> None:
    """Decided requests need no more timers (a stray one would find nothing pending anyway)."""
    rid = state.record.interaction_id
    await timers.cancel(services.redis, *keys.approval_timers(rid, len(state.steps)))


async def run_approval_timer(services: Services, req: TimerFired) -> None:
    drafts = Drafts(services.redis)
    state = await drafts.get(req.interaction_id)
    if state is None or state.status != "pending":
        return  # decided, withdrawn or gone: the timer has nothing left to do
    if req.action == "expire":
        await _expire(services, drafts, state)
    else:
        await _escalate(services, drafts, state, req.step)


async def _escalate(services: Services, drafts: Drafts, state: DraftState, step: int) -> None:
    if step >= len(state.steps):
        return
    group, after = state.steps[step]
    members = await members_of(services, group)
    outcome = await drafts.transition(
        state.record.interaction_id, ["pending"], "pending", actor="steward",
        click=f"timer:escalate:{step}", expect_step=step - 1,
        group=group, approvers=json.dumps(members), step=step,
    )  # fmt: skip
    if not outcome.won:
        return
    fresh = outcome.state or state
    r = fresh.record
    if await drafts.once(r.interaction_id, f"escalated:{step}"):
        await audit(
            services, fresh, "escalated", actor_id=None, approval_status="escalated",
            reason=f"undecided after {after:g}s",
            extra={"approvers": members, "group": group, "step": step,
                   "target_channel": r.channel_id, "target_thread_ts": r.thread_ts},
        )  # fmt: skip
    await show_escalation(services, drafts, fresh, view.describe_approvers(group, members))


async def _expire(services: Services, drafts: Drafts, state: DraftState) -> None:
    rid = state.record.interaction_id
    outcome = await drafts.transition(
        rid, ["pending"], "expired", actor="steward", click="timer:expire"
    )
    if not outcome.won:
        return
    fresh = outcome.state or state
    await cancel(services, fresh)
    if await drafts.once(rid, "expired"):
        await audit(
            services, fresh, "expired", actor_id=None, approval_status="expired",
            reason="nobody decided before the request expired",
            extra={"step": fresh.step, "approvers": fresh.approvers},
        )  # fmt: skip
    await show_outcome(
        services, fresh, ":hourglass: Expired — nobody decided in time; nothing was posted."
    )
    if await drafts.once(rid, "told_expired"):
        text = (
            f":hourglass: Your draft for {view.target(fresh.record)} expired before anyone "
            "approved it, so nothing was posted. Run /draft again if it is still needed."
        )
        dm = await services.slack.open_dm(fresh.record.user_id)
        await services.slack.post_message(dm, text, view.notice(text).blocks)
