"""Posting an approved (or directly posted) draft to its target, exactly once, with attribution.

The winner claims the post in the draft's hash (usually in the same call that approved it),
posts with a marker block id, then records the posted ts. A re-run of a claimed post first looks
for its marker in the target conversation, so a worker that died between Slack's answer and the
record does not make a second post.
"""

from __future__ import annotations

import logging

from app.audit.event import ApprovalStatus
from app.drafts import views as view
from app.drafts.approval_message import show_outcome
from app.drafts.store import Drafts, DraftState, PostClaim
from app.drafts.trail import audit
from app.runtime.services import Services
from app.slack.mrkdwn import escape
from app.slack.port import SlackError
from app.slack.reply import ReplyTo

log = logging.getLogger(__name__)


async def attribution(services: Services, state: DraftState, approver: str | None) -> str:
    requester = await services.slack.user_name(state.record.user_id)
    who = (
        "Drafted with AI"
        if state.record.engine != "offline"
        else "Drafted with Steward (offline engine)"
    )
    line = f"{who} for {escape(requester)}"
    if approver:
        line += f" · approved by {escape(await services.slack.user_name(approver))}"
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


def _requester(state: DraftState) -> ReplyTo:
    r = state.record
    return ReplyTo(user_id=r.user_id, channel_id=r.reply_channel or r.channel_id)


async def ensure_posted(
    services: Services,
    drafts: Drafts,
    state: DraftState,
    click: str,
    *,
    approver: str | None,
    claim: PostClaim | None = None,
) -> str | None:
    """Post the draft to its target once; the ts of the post (None when it can't be posted).

    `claim` is the post claim `click` already made (with the transition that approved it);
    without one the post is claimed here."""
    r = state.record
    kind, detail = claim or await drafts.claim_post(r.interaction_id, click)
    if kind in ("not_ready", "busy"):
        log.info("draft not posted here", extra={"interaction_id": r.interaction_id, "why": kind})
        return None
    ts: str | None = detail if kind == "posted" else None
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
        await _post_failed(services, drafts, state, exc, approver)
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
        await show_outcome(
            services, state, f":white_check_mark: Approved by <@{approver}> · posted"
        )
    if await drafts.once(r.interaction_id, "told_posted"):
        name = escape(await services.slack.user_name(approver)) if approver else ""
        by = f" (approved by {name})" if approver else ""
        await services.slack.tell(
            _requester(state), f":white_check_mark: Your draft was posted in {view.target(r)}{by}."
        )
    return ts


async def _post_failed(
    services: Services, drafts: Drafts, state: DraftState, exc: SlackError, approver: str | None
) -> None:
    r = state.record
    await drafts.set(r.interaction_id, posting="")
    await audit(
        services, state, "failed", actor_id=approver or r.user_id, approver_id=approver,
        approval_status="approved" if approver else "not_required", reason=f"post: {exc.code}",
    )  # fmt: skip
    text = f":warning: Slack would not let me post the draft in {view.target(r)} (`{exc.code}`)."
    await services.slack.tell(_requester(state), text)
    if approver:
        await show_outcome(
            services,
            state,
            f":warning: Approved by <@{approver}>, but posting failed (`{exc.code}`).",
        )
