"""Deciding on a pending draft: Approve, Edit and Reject on the approval request.

Who may decide is checked at click time, on the server: never the requester, else a member of
the current step's group. The decision is one atomic transition of the draft (`store.py`): the
first decision wins across processes, a decision for a step that escalated meanwhile is re-checked,
and a job re-run after its worker died re-enters as the winner and finishes the work. An approval
claims the post in that same call; posting is `posting.py`.

Refused clicks are throttled per person, draft, button and reason: the first within
`REFUSAL_WINDOW_S` is audited (`refused`) and answered; repeats in that window (a non-approver
clicking Approve 500 times) are counted (`steward_refusals_throttled_total`, and in the throttle
key) but neither audited nor answered again, so a click storm cannot flood the audit log or the
person's screen.
"""

from __future__ import annotations

import json
import uuid
from typing import Literal

from pydantic import BaseModel, Field

from app.drafts import deadlines, keys
from app.drafts import views as view
from app.drafts.approval_message import show_outcome
from app.drafts.posting import ensure_posted
from app.drafts.store import Drafts, DraftState, Outcome
from app.drafts.trail import audit
from app.governance.approvers import members_of
from app.model.sanitize import links_in, sanitize_output
from app.runtime import metrics
from app.runtime.services import Services
from app.slack.mrkdwn import escape
from app.slack.reply import ReplyTo


class ApprovalAction(BaseModel):
    """A click on the approval request, or one of its modals submitted."""

    interaction_id: str
    user_id: str
    team_id: str
    action: Literal["approve", "edit", "reject", "edit_submitted", "reject_submitted"]
    click_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    text: str | None = None  # edit_submitted
    reason: str | None = None  # reject_submitted
    trigger_id: str | None = None
    channel_id: str | None = None
    response_url: str | None = None


def _already(status: str, by: str) -> str:
    if status == "approved":
        return f"This draft was already approved by <@{by}>."
    if status == "rejected":
        return f"This draft was already rejected by <@{by}>."
    if status == "expired":
        return "This approval request has expired; nothing was posted."
    if status == "withdrawn":
        return "The requester withdrew this draft; nothing was posted."
    return f"This draft is no longer awaiting approval ({status})."


REFUSAL_WINDOW_S = 60  # repeats of a refused click within this window are only counted


async def _first_refusal(services: Services, req: ApprovalAction, why: str) -> bool:
    """True for the first refusal of this person's click (Approve, Reject...) on this draft
    for `why` in the window; a repeat is counted and False."""
    key = keys.refusal_throttle(req.interaction_id, req.user_id, f"{req.action}:{why}")
    if await services.redis.set(key, 0, nx=True, ex=REFUSAL_WINDOW_S):
        return True
    await services.redis.incr(key)  # keeps the window's TTL
    metrics.REFUSALS_THROTTLED.labels(kind="approval").inc()
    return False


async def _refuse(
    services: Services, state: DraftState, req: ApprovalAction, why: str, message: str
) -> None:
    if not await _first_refusal(services, req, why):
        return
    await audit(
        services,
        state,
        "refused",
        actor_id=req.user_id,
        approval_status="pending",
        reason=f"{req.action}: {why}",
        extra={"step": state.step, "approvers": state.approvers},
    )
    await services.slack.tell(ReplyTo.of(req), message)


async def _may_decide(services: Services, state: DraftState, req: ApprovalAction) -> bool:
    """Checked at click time, on the server: the requester never, else the current step's group."""
    if req.user_id == state.record.user_id:
        await _refuse(
            services, state, req, "requester", ":no_entry: You can't approve your own draft."
        )
        return False
    members = await members_of(services, state.group) if state.group else []
    if req.user_id not in members:
        described = view.describe_approvers(state.group, members)
        await _refuse(
            services,
            state,
            req,
            "not an approver",
            f":no_entry: Only {described} can decide on this draft.",
        )
        return False
    return True


async def run_approval_action(services: Services, req: ApprovalAction) -> None:
    drafts = Drafts(services.redis)
    reply = ReplyTo.of(req)
    state = await drafts.get(req.interaction_id)
    for _ in range(3):  # re-checked when an escalation moved the step under us
        if state is None:
            await services.slack.tell(reply, "That draft no longer exists.")
            return
        # The same job re-run after its worker died finishes what it won (see store._TRANSITION).
        reentry = (
            state.by == req.user_id
            and state.status in ("approved", "rejected")
            and req.action in ("approve", "edit_submitted", "reject_submitted")
        )
        if state.status != "pending" and not reentry:
            await services.slack.tell(reply, _already(state.status, state.by))
            return
        if state.status == "pending" and not await _may_decide(services, state, req):
            return
        if req.action in ("edit", "reject"):
            await _open_modal(services, state, req)
            return
        outcome = await _decide(drafts, state, req)
        if outcome.result == "moved":
            state = outcome.state  # the step it moved to, as the transition saw it
            continue
        if not outcome.won:
            await services.slack.tell(reply, _already(outcome.status, outcome.by))
            return
        if outcome.state is not None:
            await _after_decision(services, drafts, outcome, req)
        return


async def _open_modal(services: Services, state: DraftState, req: ApprovalAction) -> None:
    if not req.trigger_id:
        return
    metadata = json.dumps({"id": state.record.interaction_id, "channel": req.channel_id})
    if req.action == "edit":
        modal = view.edit_modal("approval_edit", metadata, state.text, approving=True)
    else:
        modal = view.reject_modal("approval_reject", metadata)
    await services.slack.open_view(req.trigger_id, modal)


async def _decide(drafts: Drafts, state: DraftState, req: ApprovalAction) -> Outcome:
    rid = req.interaction_id
    if req.action == "reject_submitted":
        reason = (req.reason or "").strip()[: view.REASON_MAX_CHARS] or "no reason given"
        return await drafts.transition(
            rid, ["pending"], "rejected", actor=req.user_id, click=req.click_id,
            expect_step=state.step, reason=reason,
        )  # fmt: skip
    fields: dict[str, str | int | float] = {}
    if req.action == "edit_submitted" and req.text is not None:
        fields["text"] = clean_human_text(req.text)
        fields["previous_text"] = state.text
    return await drafts.transition(
        rid, ["pending"], "approved", actor=req.user_id, click=req.click_id,
        expect_step=state.step, claim_post=True, **fields,
    )  # fmt: skip


def clean_human_text(text: str) -> str:
    """A person's edit: kept as written, except broadcast pings (never from Steward)."""
    text = text.strip()[: view.DRAFT_MAX_CHARS]
    return sanitize_output(text, links_in([text]))


async def _after_decision(
    services: Services, drafts: Drafts, outcome: Outcome, req: ApprovalAction
) -> None:
    state = outcome.state
    assert state is not None
    rid = state.record.interaction_id
    if state.status == "rejected":
        await deadlines.cancel(services, state)
        await _rejected(services, drafts, state, req)
        return
    edited = state.previous_text is not None
    if edited and await drafts.once(rid, "edited_by_approver"):
        await audit(
            services, state, "edited", actor_id=req.user_id, approver_id=req.user_id,
            approval_status="pending", output=state.text, extra={"previous": state.previous_text},
        )  # fmt: skip
    if await drafts.once(rid, "approved"):
        await audit(
            services, state, "approved", actor_id=req.user_id, approver_id=req.user_id,
            approval_status="approved", output=state.text,
            extra={"step": state.step, "edited": edited},
        )  # fmt: skip
    await ensure_posted(
        services, drafts, state, req.click_id, approver=req.user_id, claim=outcome.claim
    )
    # After the post, so the post waits for nothing it does not need: a deadline that fires
    # meanwhile finds the draft decided and does nothing.
    await deadlines.cancel(services, state)


async def _rejected(
    services: Services, drafts: Drafts, state: DraftState, req: ApprovalAction
) -> None:
    rid = state.record.interaction_id
    if await drafts.once(rid, "rejected"):
        await audit(
            services, state, "rejected", actor_id=req.user_id, approver_id=req.user_id,
            approval_status="rejected", reason=state.reason,
        )  # fmt: skip
    reason = escape(state.reason)
    await show_outcome(services, state, f":x: Rejected by <@{req.user_id}>: {reason}")
    if await drafts.once(rid, "told_rejected"):
        name = escape(await services.slack.user_name(req.user_id))
        dm = await services.slack.open_dm(state.record.user_id)
        text = (
            f":x: Your draft for {view.target(state.record)} was rejected by {name}.\n"
            f"*Reason:* {reason}\n>{state.text[:500]}"
        )
        await services.slack.post_message(dm, text, view.notice(text).blocks)
