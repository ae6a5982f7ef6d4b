"""The approval request in Slack: a short parent message with the request in its thread, each
posted once, then updated in place to show who decided, an escalation, or the expiry."""

from __future__ import annotations

import logging

from app.drafts import views as view
from app.drafts.store import Drafts, DraftState
from app.runtime.services import Services
from app.slack.port import SlackError

log = logging.getLogger(__name__)


async def post_request(
    services: Services, drafts: Drafts, state: DraftState, channel: str, approvers: str
) -> DraftState:
    """The short parent message and the request in its thread (each posted once); the draft
    with both recorded."""
    r = state.record
    requester = await services.slack.user_name(r.user_id)
    parent_ts, approval_ts = state.parent_ts, state.approval_ts
    if parent_ts is None:
        parent = view.approval_parent(requester, view.target(r))
        posted = await services.slack.post_message(channel, parent.text, parent.blocks)
        parent_ts = str(posted["ts"])
        await drafts.set(r.interaction_id, parent_ts=parent_ts, approval_channel=channel)
        state = state.model_copy(update={"parent_ts": parent_ts, "approval_channel": channel})
    if approval_ts is None:
        message = view.approval_request(
            view.card(state), requester=requester, approvers=approvers, step=state.step
        )
        posted = await services.slack.post_message(
            channel, message.text, message.blocks, thread_ts=parent_ts
        )
        approval_ts = str(posted["ts"])
        await drafts.set(r.interaction_id, approval_ts=approval_ts)
        state = state.model_copy(update={"approval_ts": approval_ts})
    return state


async def show_outcome(
    services: Services, state: DraftState, status_line: str, *, cancel_post: bool = False
) -> None:
    """The approval request (and its parent) updated to show what happened; `cancel_post` adds
    the admins' Cancel posting button (a post that keeps failing, see `posting.py`)."""
    if not (state.approval_channel and state.approval_ts):
        return
    requester = await services.slack.user_name(state.record.user_id)
    approvers = view.describe_approvers(state.group, state.approvers)
    message = view.approval_request(
        view.card(state), requester=requester, approvers=approvers, step=state.step,
        status_line=status_line, cancel_post=cancel_post,
    )  # fmt: skip
    try:
        await services.slack.update(
            state.approval_channel, state.approval_ts, message.text, message.blocks
        )
        if state.parent_ts:
            parent = view.approval_parent(requester, view.target(state.record), outcome=status_line)
            await services.slack.update(
                state.approval_channel, state.parent_ts, parent.text, parent.blocks
            )
    except SlackError as exc:
        log.warning("approval message not updated", extra={"code": exc.code})


async def show_escalation(
    services: Services, drafts: Drafts, state: DraftState, approvers: str
) -> None:
    """The request now names the next step's approvers; a note in its thread says why (once)."""
    if not (state.approval_channel and state.approval_ts):
        return
    requester = await services.slack.user_name(state.record.user_id)
    message = view.approval_request(
        view.card(state), requester=requester, approvers=approvers, step=state.step
    )
    try:
        await services.slack.update(
            state.approval_channel, state.approval_ts, message.text, message.blocks
        )
        if await drafts.once(state.record.interaction_id, f"escalation_note:{state.step}"):
            note = f":arrow_up: Nobody decided in time, so this now goes to {approvers}."
            await services.slack.post_message(
                state.approval_channel, note, view.notice(note).blocks, thread_ts=state.parent_ts
            )
    except SlackError as exc:
        log.warning("escalation not shown", extra={"code": exc.code})
