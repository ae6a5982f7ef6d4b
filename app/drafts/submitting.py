"""Submitting a draft for approval, and the requester taking it back.

Submit checks that the approval channel takes Steward's posts before anything is pending, moves
the draft draft → pending with the policy's steps, sets its deadlines, records the request and
posts it. Withdraw moves pending → withdrawn and cancels the deadlines.
"""

from __future__ import annotations

import dataclasses
import json
import time

from app.drafts import deadlines
from app.drafts import views as view
from app.drafts.approval_message import post_request, show_outcome
from app.drafts.store import Drafts, DraftState, Outcome
from app.drafts.trail import audit
from app.governance import policy_schema as policy_
from app.governance.approvers import members_of
from app.runtime.services import Services
from app.slack.port import NotPostable, SlackError


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
    services: Services, drafts: Drafts, state: DraftState, rule: policy_.ApprovalRule, click: str
) -> Outcome:
    """draft → pending, then the approval request, its audit event and its timers; the outcome
    carries the draft as submitted (approval channel and request recorded).

    Raises `RequestChannelUnavailable` when the request cannot be posted; the draft is then
    back to `draft` with no timers, so nothing waits on a request nobody can see."""
    r = state.record
    await check_request_channel(services, request_channel(state, rule))
    first = rule.steps[0].group
    members = await members_of(services, first)
    outcome = await drafts.transition(
        r.interaction_id,
        ["draft"],
        "pending",
        actor=r.user_id,
        click=click,
        expect_step=0,
        submitted_at=time.time(),
        group=first,
        approvers=json.dumps(members),
        steps=json.dumps([[s.group, s.after.total_seconds()] for s in rule.steps]),
    )
    if not outcome.won or outcome.state is None:
        return outcome
    fresh = outcome.state
    await deadlines.schedule(services, fresh, rule)
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
        posted = await post_request(
            services, drafts, fresh, channel, view.describe_approvers(first, members)
        )
    except NotPostable as exc:  # lost membership between the check and the post
        await _unsubmit(services, drafts, fresh, click)
        raise RequestChannelUnavailable(channel, exc.hint, was_pending=True) from None
    return dataclasses.replace(outcome, state=posted)


async def _unsubmit(services: Services, drafts: Drafts, state: DraftState, click: str) -> None:
    """pending → draft again with its timers cancelled: no request, so nothing is pending."""
    r = state.record
    await drafts.transition(
        r.interaction_id, ["pending"], "draft", actor=r.user_id, click=f"{click}:unsubmit"
    )
    await deadlines.cancel(services, state)
    await drafts.forget(r.interaction_id, "approval_requested")


async def withdraw(services: Services, drafts: Drafts, state: DraftState, click: str) -> Outcome:
    rid = state.record.interaction_id
    outcome = await drafts.transition(
        rid, ["pending"], "withdrawn", actor=state.record.user_id, click=click
    )
    if not outcome.won:
        return outcome
    fresh = outcome.state or state
    await deadlines.cancel(services, fresh)
    if await drafts.once(rid, "withdrawn"):
        await audit(
            services, fresh, "discarded", actor_id=state.record.user_id,
            approval_status="withdrawn", reason="withdrawn by the requester",
        )  # fmt: skip
    await show_outcome(services, fresh, ":leftwards_arrow_with_hook: Withdrawn by the requester")
    return outcome
