"""A draft's life after it is generated: approval requests, decisions, escalation, expiry, posting.

A draft's state and its atomic transitions are `app/draft_store.py`: "first decision wins"
holds across processes, and a job re-run after its worker died re-enters as the winner.

Posting is exactly-once the same way: the winner claims the post in the hash, posts with a marker
block id, then records the posted ts. A re-run of a claimed post first looks for its marker in
the target conversation, so a worker that died between Slack's answer and the record does not
make a second post.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.audit.event import ApprovalStatus, EventName
from app.drafts import views as view
from app.drafts.store import Drafts, DraftState, Outcome
from app.governance import gate as governance
from app.governance import policy_schema as policy_
from app.governance import resolution
from app.governance.approvers import members_of
from app.model.sanitize import links_in, sanitize_output
from app.runtime import timers
from app.runtime.services import Services
from app.slack.port import NotPostable, SlackError
from app.slack.reply import ReplyTo

log = logging.getLogger(__name__)

USE_CASE = "draft"
TIMER_KIND = "approval_timer"

# ---------------------------------------------------------------------------------------------
# Who may decide
# ---------------------------------------------------------------------------------------------


def describe_approvers(group: str, members: Sequence[str]) -> str:
    people = ", ".join(f"<@{m}>" for m in members) or "_nobody — check the policy's groups_"
    return f"{people} ({group})"


# ---------------------------------------------------------------------------------------------
# Audit
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Submitting
# ---------------------------------------------------------------------------------------------


def _timer_ids(interaction_id: str, steps: int) -> list[str]:
    return [f"{interaction_id}:escalate:{n}" for n in range(1, steps)] + [
        f"{interaction_id}:expire"
    ]


async def _cancel_timers(services: Services, interaction_id: str) -> None:
    """Decided requests need no more timers (a stray one would find nothing pending anyway)."""
    raw = await Drafts(services).field(interaction_id, "steps")
    await timers.cancel(services.redis, *_timer_ids(interaction_id, len(_steps(str(raw or "[]")))))


class RequestChannelUnavailable(Exception):
    """The approval request cannot be posted where the policy sends it; nothing is pending."""

    def __init__(self, channel: str, problem: str, *, was_pending: bool = False) -> None:
        super().__init__(problem)
        self.channel = channel
        self.was_pending = was_pending  # the request had been recorded, then taken back
        self.user_message = (
            f":warning: Not submitted: approval requests for this draft go to <#{channel}>. "
            f"{problem} Your draft is kept; click *Submit for approval* again after that."
        )


async def check_request_channel(services: Services, channel: str) -> None:
    """Before anything is pending: the approval channel takes Steward's posts (a public one is
    joined), else `RequestChannelUnavailable` saying what a person must do."""
    try:
        await services.slack.ensure_postable(channel)
    except NotPostable as exc:
        raise RequestChannelUnavailable(channel, exc.hint) from None
    except SlackError as exc:
        problem = exc.missing_scope_hint or f"Slack would not let Steward check it (`{exc.code}`)."
        raise RequestChannelUnavailable(channel, problem) from None


def request_channel(state: DraftState, rule: policy_.ApprovalRule) -> str:
    return rule.channel or state.record.channel_id


async def submit(
    services: Services, state: DraftState, rule: policy_.ApprovalRule, click: str
) -> Outcome:
    """draft → pending, then the approval request, its audit event and its timers.

    Raises `RequestChannelUnavailable` when the request cannot be posted; the draft is then
    back to `draft` with no timers, so nothing waits on a request nobody can see."""
    r = state.record
    await check_request_channel(services, request_channel(state, rule))
    now = time.time()
    first = rule.steps[0].group
    members = await members_of(services, first)
    drafts = Drafts(services)
    outcome = await drafts.transition(
        r.interaction_id,
        ["draft"],
        "pending",
        actor=r.user_id,
        click=click,
        expect_step=0,
        submitted_at=now,
        group=first,
        approvers=json.dumps(members),
        steps=json.dumps([[s.group, s.after.total_seconds()] for s in rule.steps]),
    )
    if not outcome.won:
        return outcome
    fresh = await drafts.get(r.interaction_id)
    if fresh is None:
        return Outcome("missing", "", "")
    await _schedule_timers(services, fresh, rule, fresh.submitted_at or now)
    channel = request_channel(fresh, rule)
    if await drafts.once(r.interaction_id, "approval_requested"):
        await audit(
            services,
            fresh,
            "approval_requested",
            actor_id=r.user_id,
            approval_status="pending",
            output=fresh.text,
            extra={
                "approvers": members,
                "group": first,
                "step": 0,
                "target_channel": r.channel_id,
                "target_thread_ts": r.thread_ts,
                "approval_channel": channel,
                "expire_after_s": rule.expire_after.total_seconds(),
            },
        )
    try:
        await _post_request(services, fresh, channel, describe_approvers(first, members))
    except NotPostable as exc:  # lost membership between the check and the post
        await _unsubmit(services, fresh, click)
        raise RequestChannelUnavailable(channel, exc.hint, was_pending=True) from None
    return outcome


async def _unsubmit(services: Services, state: DraftState, click: str) -> None:
    """pending → draft again with its timers cancelled: no request, so nothing is pending."""
    r = state.record
    drafts = Drafts(services)
    await drafts.transition(
        r.interaction_id, ["pending"], "draft", actor=r.user_id, click=f"{click}:unsubmit"
    )
    await _cancel_timers(services, r.interaction_id)
    await drafts.forget(r.interaction_id, "approval_requested")


async def _schedule_timers(
    services: Services, state: DraftState, rule: policy_.ApprovalRule, submitted: float
) -> None:
    """Escalations and expiry, set before anyone is asked: the deadlines exist from the start."""
    r = state.record
    for n, step in enumerate(rule.steps[1:], 1):
        payload = TimerFired(interaction_id=r.interaction_id, action="escalate", step=n)
        due = submitted + step.after.total_seconds()
        await timers.schedule(
            services.redis, f"{r.interaction_id}:escalate:{n}", due, TIMER_KIND, payload
        )
    expire = TimerFired(interaction_id=r.interaction_id, action="expire", step=len(rule.steps))
    await timers.schedule(
        services.redis,
        f"{r.interaction_id}:expire",
        submitted + rule.expire_after.total_seconds(),
        TIMER_KIND,
        expire,
    )


async def _post_request(
    services: Services, state: DraftState, channel: str, approvers: str
) -> None:
    """The short parent message and the request in its thread (each posted once)."""
    r = state.record
    drafts = Drafts(services)
    requester = await services.slack.user_name(r.user_id)
    parent_ts = state.parent_ts
    if parent_ts is None:
        parent = view.approval_parent(requester, r.target)
        posted = await services.slack.post_message(channel, parent.text, parent.blocks)
        parent_ts = str(posted["ts"])
        await drafts.set(r.interaction_id, parent_ts=parent_ts, approval_channel=channel)
    if state.approval_ts is None:
        message = view.approval_request(
            state.card(), requester=requester, approvers=approvers, step=state.step
        )
        posted = await services.slack.post_message(
            channel, message.text, message.blocks, thread_ts=parent_ts
        )
        await drafts.set(r.interaction_id, approval_ts=str(posted["ts"]))


# ---------------------------------------------------------------------------------------------
# Deciding
# ---------------------------------------------------------------------------------------------


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


class TimerFired(BaseModel):
    interaction_id: str
    action: Literal["escalate", "expire"]
    step: int


async def _tell_clicker(services: Services, req: ApprovalAction, text: str) -> None:
    await services.slack.tell(ReplyTo.of(req), text)


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


async def _refuse(
    services: Services, state: DraftState, req: ApprovalAction, why: str, message: str
) -> None:
    await audit(
        services,
        state,
        "refused",
        actor_id=req.user_id,
        approval_status="pending",
        reason=f"{req.action}: {why}",
        extra={"step": state.step, "approvers": state.approvers},
    )
    await _tell_clicker(services, req, message)


async def _may_decide(services: Services, state: DraftState, req: ApprovalAction) -> bool:
    """Checked at click time, on the server: the requester never, else the current step's group."""
    if req.user_id == state.record.user_id:
        await _refuse(
            services, state, req, "requester", ":no_entry: You can't approve your own draft."
        )
        return False
    members = await members_of(services, state.group) if state.group else []
    if req.user_id not in members:
        await _refuse(
            services,
            state,
            req,
            "not an approver",
            f":no_entry: Only {describe_approvers(state.group, members)} can decide on this draft.",
        )
        return False
    return True


async def run_approval_action(services: Services, req: ApprovalAction) -> None:
    drafts = Drafts(services)
    for _ in range(3):  # re-checked when an escalation moved the step under us
        state = await drafts.get(req.interaction_id)
        if state is None:
            await _tell_clicker(services, req, "That draft no longer exists.")
            return
        # The same job re-run after its worker died finishes what it won (see _TRANSITION).
        reentry = (
            state.by == req.user_id
            and state.status in ("approved", "rejected")
            and req.action in ("approve", "edit_submitted", "reject_submitted")
        )
        if state.status != "pending" and not reentry:
            await _tell_clicker(services, req, _already(state.status, state.by))
            return
        if state.status == "pending" and not await _may_decide(services, state, req):
            return
        if req.action in ("edit", "reject"):
            await _open_modal(services, state, req)
            return
        outcome = await _decide(services, drafts, state, req)
        if outcome.result == "moved":
            continue
        if not outcome.won:
            await _tell_clicker(services, req, _already(outcome.status, outcome.by))
            return
        fresh = await drafts.get(req.interaction_id)
        if fresh is not None:
            await _after_decision(services, fresh, req)
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


async def _decide(
    services: Services, drafts: Drafts, state: DraftState, req: ApprovalAction
) -> Outcome:
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
        expect_step=state.step, **fields,
    )  # fmt: skip


def clean_human_text(text: str) -> str:
    """A person's edit: kept as written, except broadcast pings (never from Steward)."""
    text = text.strip()[: view.DRAFT_MAX_CHARS]
    return sanitize_output(text, links_in([text]))


async def _after_decision(services: Services, state: DraftState, req: ApprovalAction) -> None:
    drafts = Drafts(services)
    rid = state.record.interaction_id
    await _cancel_timers(services, rid)
    if state.status == "rejected":
        if await drafts.once(rid, "rejected"):
            await audit(
                services, state, "rejected", actor_id=req.user_id, approver_id=req.user_id,
                approval_status="rejected", reason=state.reason,
            )  # fmt: skip
        await _show_outcome(services, state, f":x: Rejected by <@{req.user_id}>: {state.reason}")
        if await drafts.once(rid, "told_rejected"):
            name = await services.slack.user_name(req.user_id)
            dm = await services.slack.open_dm(state.record.user_id)
            text = (
                f":x: Your draft for {state.record.target} was rejected by {name}.\n"
                f"*Reason:* {state.reason}\n>{state.text[:500]}"
            )
            await services.slack.post_message(dm, text, view.notice(text).blocks)
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
    await ensure_posted(services, state, req.click_id, approver=req.user_id)


# ---------------------------------------------------------------------------------------------
# Posting (exactly once)
# ---------------------------------------------------------------------------------------------


async def attribution(services: Services, state: DraftState, approver: str | None) -> str:
    requester = await services.slack.user_name(state.record.user_id)
    who = (
        "Drafted with AI"
        if state.record.engine != "offline"
        else "Drafted with Steward (offline engine)"
    )
    line = f"{who} for {requester}"
    if approver:
        line += f" · approved by {await services.slack.user_name(approver)}"
    return line


async def _find_marker(services: Services, state: DraftState) -> str | None:
    """The ts of a post this draft already made (a crashed attempt got that far)."""
    r = state.record
    marker = f"{view.POSTED_MARKER}{r.interaction_id}"
    if r.thread_ts:
        found = await services.slack.thread(r.channel_id, r.thread_ts)
    else:
        found = await services.slack.history(
            r.channel_id, f"{(state.submitted_at or r.created_at) - 60:.6f}"
        )
    for message in found:
        if any(b.get("block_id") == marker for b in message.get("blocks") or []):
            return str(message.get("ts"))
    return None


async def ensure_posted(
    services: Services, state: DraftState, click: str, *, approver: str | None
) -> str | None:
    """Post the draft to its target once; the ts of the post (None when it can't be posted)."""
    drafts = Drafts(services)
    r = state.record
    claim, detail = await drafts.claim_post(r.interaction_id, click)
    if claim in ("not_ready", "busy"):
        log.info("draft not posted here", extra={"interaction_id": r.interaction_id, "why": claim})
        return None
    ts: str | None = detail if claim == "posted" else None
    try:
        if ts is None and int(detail or 1) > 1:
            ts = await _find_marker(services, state)
        if ts is None:
            message = view.posted_message(
                state.text, await attribution(services, state, approver), r.interaction_id
            )
            posted = await services.slack.post_message(
                r.channel_id, message.text, message.blocks, thread_ts=r.thread_ts
            )
            ts = str(posted["ts"])
    except SlackError as exc:
        await _post_failed(services, state, exc, approver)
        return None
    await drafts.set(r.interaction_id, posted_ts=ts)
    status: ApprovalStatus = "approved" if approver else "not_required"
    if await drafts.once(r.interaction_id, "posted"):
        await audit(
            services, state, "posted", actor_id=approver or r.user_id, approver_id=approver,
            approval_status=status, output=state.text,
            extra={"ts": ts, "target_channel": r.channel_id, "target_thread_ts": r.thread_ts},
        )  # fmt: skip
    if approver:
        await _show_outcome(
            services, state, f":white_check_mark: Approved by <@{approver}> · posted"
        )
    if await drafts.once(r.interaction_id, "told_posted"):
        by = f" (approved by {await services.slack.user_name(approver)})" if approver else ""
        await _tell_requester(
            services, state, f":white_check_mark: Your draft was posted in {r.target}{by}."
        )
    return ts


async def _post_failed(
    services: Services, state: DraftState, exc: SlackError, approver: str | None
) -> None:
    r = state.record
    await Drafts(services).set(r.interaction_id, posting="")
    await audit(
        services, state, "failed", actor_id=approver or r.user_id, approver_id=approver,
        approval_status="approved" if approver else "not_required", reason=f"post: {exc.code}",
    )  # fmt: skip
    text = f":warning: Slack would not let me post the draft in {r.target} (`{exc.code}`)."
    await _tell_requester(services, state, text)
    if approver:
        await _show_outcome(
            services,
            state,
            f":warning: Approved by <@{approver}>, but posting failed (`{exc.code}`).",
        )


async def _tell_requester(services: Services, state: DraftState, text: str) -> None:
    r = state.record
    await services.slack.tell(
        ReplyTo(user_id=r.user_id, channel_id=r.reply_channel or r.channel_id), text
    )


async def _show_outcome(services: Services, state: DraftState, status_line: str) -> None:
    """The approval request (and its parent) updated to show what happened."""
    if not (state.approval_channel and state.approval_ts):
        return
    requester = await services.slack.user_name(state.record.user_id)
    approvers = describe_approvers(state.group, state.approvers)
    message = view.approval_request(
        state.card(), requester=requester, approvers=approvers, step=state.step,
        status_line=status_line,
    )  # fmt: skip
    try:
        await services.slack.update(
            state.approval_channel, state.approval_ts, message.text, message.blocks
        )
        if state.parent_ts:
            parent = view.approval_parent(requester, state.record.target, outcome=status_line)
            await services.slack.update(
                state.approval_channel, state.parent_ts, parent.text, parent.blocks
            )
    except SlackError as exc:
        log.warning("approval message not updated", extra={"code": exc.code})


# ---------------------------------------------------------------------------------------------
# Withdrawing, escalating, expiring
# ---------------------------------------------------------------------------------------------


async def withdraw(services: Services, state: DraftState, click: str) -> Outcome:
    drafts = Drafts(services)
    rid = state.record.interaction_id
    outcome = await drafts.transition(
        rid, ["pending"], "withdrawn", actor=state.record.user_id, click=click
    )
    if not outcome.won:
        return outcome
    await _cancel_timers(services, rid)
    fresh = await drafts.get(rid) or state
    if await drafts.once(rid, "withdrawn"):
        await audit(
            services, fresh, "discarded", actor_id=state.record.user_id,
            approval_status="withdrawn", reason="withdrawn by the requester",
        )  # fmt: skip
    await _show_outcome(services, fresh, ":leftwards_arrow_with_hook: Withdrawn by the requester")
    return outcome


def _steps(raw: str) -> list[tuple[str, float]]:
    return [(str(g), float(a)) for g, a in json.loads(raw or "[]")]


async def run_approval_timer(services: Services, req: TimerFired) -> None:
    drafts = Drafts(services)
    state = await drafts.get(req.interaction_id)
    if state is None or state.status != "pending":
        return  # decided, withdrawn or gone: the timer has nothing left to do
    if req.action == "expire":
        await _expire(services, drafts, state, req)
    else:
        await _escalate(services, drafts, state, req)


async def _escalate(services: Services, drafts: Drafts, state: DraftState, req: TimerFired) -> None:
    raw = await drafts.field(req.interaction_id, "steps")
    steps = _steps(str(raw or "[]"))
    if req.step >= len(steps):
        return
    group = steps[req.step][0]
    members = await members_of(services, group)
    outcome = await drafts.transition(
        req.interaction_id, ["pending"], "pending", actor="steward",
        click=f"timer:escalate:{req.step}", expect_step=req.step - 1,
        group=group, approvers=json.dumps(members), step=req.step,
    )  # fmt: skip
    if not outcome.won:
        return
    fresh = await drafts.get(req.interaction_id) or state
    described = describe_approvers(group, members)
    if await drafts.once(req.interaction_id, f"escalated:{req.step}"):
        await audit(
            services, fresh, "escalated", actor_id=None, approval_status="escalated",
            reason=f"undecided after {steps[req.step][1]:g}s",
            extra={"approvers": members, "group": group, "step": req.step,
                   "target_channel": fresh.record.channel_id,
                   "target_thread_ts": fresh.record.thread_ts},
        )  # fmt: skip
    if fresh.approval_channel and fresh.approval_ts:
        requester = await services.slack.user_name(fresh.record.user_id)
        message = view.approval_request(
            fresh.card(), requester=requester, approvers=described, step=req.step
        )
        try:
            await services.slack.update(
                fresh.approval_channel, fresh.approval_ts, message.text, message.blocks
            )
            if await drafts.once(req.interaction_id, f"escalation_note:{req.step}"):
                note = f":arrow_up: Nobody decided in time, so this now goes to {described}."
                await services.slack.post_message(
                    fresh.approval_channel,
                    note,
                    view.notice(note).blocks,
                    thread_ts=fresh.parent_ts,
                )
        except SlackError as exc:
            log.warning("escalation not shown", extra={"code": exc.code})


async def _expire(services: Services, drafts: Drafts, state: DraftState, req: TimerFired) -> None:
    rid = req.interaction_id
    outcome = await drafts.transition(
        rid, ["pending"], "expired", actor="steward", click="timer:expire"
    )
    if not outcome.won:
        return
    await _cancel_timers(services, rid)
    fresh = await drafts.get(rid) or state
    if await drafts.once(rid, "expired"):
        await audit(
            services, fresh, "expired", actor_id=None, approval_status="expired",
            reason="nobody decided before the request expired",
            extra={"step": fresh.step, "approvers": fresh.approvers},
        )  # fmt: skip
    await _show_outcome(
        services, fresh, ":hourglass: Expired — nobody decided in time; nothing was posted."
    )
    if await drafts.once(rid, "told_expired"):
        text = (
            f":hourglass: Your draft for {fresh.record.target} expired before anyone approved it, "
            "so nothing was posted. Run /draft again if it is still needed."
        )
        dm = await services.slack.open_dm(fresh.record.user_id)
        await services.slack.post_message(dm, text, view.notice(text).blocks)


async def current_rule(services: Services, state: DraftState) -> resolution.Decision:
    r = state.record
    return await governance.decide(services, r.user_id, USE_CASE, r.channel_id)
