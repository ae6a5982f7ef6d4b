"""Posting an approved (or directly posted) draft to its target, exactly once, with attribution.

The winner claims the post in the draft's hash (usually in the same call that approved it),
posts with a marker block id, then records the posted ts. A re-run of a claimed post first looks
for its marker in the target conversation, so a worker that died between Slack's answer and the
record does not make a second post.

Slack can take a post and still answer 500, or never answer before the client gives up
(`app/slack/port.py` therefore never re-sends chat.postMessage itself). So a post that seems to
have failed is looked for in the target before it counts as failed: the audit always says what
the channel shows. One that really failed gives its claim back and is retried by a timer with
backoff (`RETRY_DELAYS_S`) until it lands or an admin presses *Cancel posting* on the approval
request, which shows the failure and when the next try is due. Each failed attempt is a `failed`
event; the end is one `posted`, or one `discarded` naming the admin who cancelled.
"""

from __future__ import annotations

import logging
import time

from pydantic import BaseModel

from app.audit.event import ApprovalStatus
from app.drafts import keys
from app.drafts import views as view
from app.drafts.approval_message import show_outcome
from app.drafts.store import Drafts, DraftState, PostClaim
from app.drafts.trail import audit
from app.governance.admins import require_role
from app.runtime import timers
from app.runtime.services import Services
from app.slack.mrkdwn import escape
from app.slack.port import SlackError
from app.slack.reply import ReplyTo

log = logging.getLogger(__name__)

RETRY_KIND = "post_retry"
# Wait before the n-th retry (the last value repeats): 1, 2, 4 … minutes, at most an hour.
RETRY_DELAYS_S = (60, 120, 240, 480, 960, 1920, 3600)


class PostRetry(BaseModel):
    """The retry timer fired for a draft whose post failed."""

    interaction_id: str


class PostCancel(BaseModel):
    """An admin's *Cancel posting* click on the approval request of a post that keeps failing."""

    interaction_id: str
    user_id: str
    team_id: str
    trigger_id: str | None = None
    channel_id: str | None = None
    response_url: str | None = None


def retry_delay(failures: int) -> int:
    """Seconds before the next try, after `failures` failed attempts (1-based)."""
    return RETRY_DELAYS_S[min(max(failures, 1), len(RETRY_DELAYS_S)) - 1]


def retry_click(interaction_id: str) -> str:
    """The claim the retry timer posts under: one per draft, so a re-run timer job re-enters."""
    return f"retry:{interaction_id}"


def _minutes(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} min"


def retry_note(state: DraftState) -> str | None:
    """What a person is told about a post that is failing and being retried (None if not)."""
    if state.posted_ts or not state.post_error:
        return None
    if state.post_cancelled:
        return f"Posting this draft failed and <@{state.post_cancelled}> cancelled it."
    due = state.post_retry_at or time.time()
    return (
        f"Posting this draft failed (`{state.post_error}`); Steward retries it in "
        f"{_minutes(due - time.time())}."
    )


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
    """The ts of a post this draft already made (a crashed attempt got that far, or Slack took
    the post but its answer was lost)."""
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


async def _landed_anyway(services: Services, state: DraftState) -> str | None:
    """After an error: the post, if Slack made it anyway; None when it is not there (or the
    target cannot even be read, which the retry will look at again)."""
    try:
        return await _find_marker(services, state)
    except SlackError as exc:
        log.info("could not look for the post", extra={"code": exc.code})
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
    """Post the draft to its target once; the ts of the post (None when it can't be posted now).

    `claim` is the post claim `click` already made (with the transition that approved it);
    without one the post is claimed here."""
    r = state.record
    kind, detail = claim or await drafts.claim_post(r.interaction_id, click)
    if kind in ("not_ready", "busy"):
        log.info("draft not posted here", extra={"interaction_id": r.interaction_id, "why": kind})
        return None
    ts: str | None = detail if kind == "posted" else None
    attempt = int(detail or 1) if kind == "claimed" else 0
    try:
        if ts is None and attempt > 1:
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
        ts = await _landed_anyway(services, state)
        if ts is None:
            await _post_failed(services, drafts, state, exc, approver, click, attempt)
            return None
        log.info("post landed although Slack's answer said otherwise", extra={"code": exc.code})
    await drafts.set(r.interaction_id, posted_ts=ts)
    await timers.cancel(services.redis, *keys.post_retry_timers(r.interaction_id, attempt + 1))
    status: ApprovalStatus = "approved" if approver else "not_required"
    if await drafts.once(r.interaction_id, "posted"):
        await audit(
            services, state, "posted", actor_id=approver or r.user_id, approver_id=approver,
            approval_status=status, output=state.text,
            extra={"ts": ts, "target_channel": r.channel_id, "target_thread_ts": r.thread_ts,
                   "attempts": max(attempt, 1)},
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
    services: Services,
    drafts: Drafts,
    state: DraftState,
    exc: SlackError,
    approver: str | None,
    click: str,
    attempt: int,
) -> None:
    """Give the claim back, record the attempt, and set the retry timer: a failed post is never
    left claimed by nobody (it would look "already posted" forever)."""
    r = state.record
    rid = r.interaction_id
    delay = retry_delay(attempt)
    due = time.time() + delay
    await drafts.release_post(rid, click, post_error=exc.code, post_retry_at=due)
    await timers.schedule(
        services.redis,
        keys.post_retry_timer(rid, max(attempt, 1)),
        due,
        RETRY_KIND,
        PostRetry(interaction_id=rid),
    )
    await audit(
        services, state, "failed", actor_id=approver or r.user_id, approver_id=approver,
        approval_status="approved" if approver else "not_required", reason=f"post: {exc.code}",
        extra={"attempt": max(attempt, 1), "retry_in_s": delay},
    )  # fmt: skip
    if await drafts.once(rid, "told_post_failed"):
        text = (
            f":warning: Slack would not let me post the draft in {view.target(r)} "
            f"(`{exc.code}`). Steward keeps retrying (next try in {_minutes(delay)}) and tells "
            "you when it is posted."
        )
        if exc.code in ("not_in_channel", "is_archived", "channel_not_found"):
            text += f" Steward may need to be invited to {view.target(r)}."
        await services.slack.tell(_requester(state), text)
    if approver:
        await show_outcome(
            services,
            state,
            f":warning: Approved by <@{approver}>, but posting failed (`{exc.code}`) — "
            f"retrying in {_minutes(delay)}. An admin can cancel it.",
            cancel_post=True,
        )


async def run_post_retry(services: Services, req: PostRetry) -> None:
    """The retry timer: try the post again (looking for it first), unless it landed or an
    admin cancelled it meanwhile."""
    drafts = Drafts(services.redis)
    state = await drafts.get(req.interaction_id)
    if state is None or state.posted_ts or state.post_cancelled:
        return
    approver = state.by if state.status == "approved" else None
    await ensure_posted(services, drafts, state, retry_click(req.interaction_id), approver=approver)


async def run_post_cancel(services: Services, req: PostCancel) -> None:
    """*Cancel posting*: admins only; stops the retries of a post that keeps failing."""
    drafts = Drafts(services.redis)
    reply = ReplyTo.of(req)
    state = await drafts.get(req.interaction_id)
    if state is None:
        await services.slack.tell(reply, "That draft no longer exists.")
        return
    r = state.record
    allowed = await require_role(
        services, reply, req.team_id, "cancel posting", "cancel a draft's post",
        action="posts.cancel", channel_id=r.channel_id, use_case="draft",
    )  # fmt: skip
    if not allowed:
        return
    outcome, detail = await drafts.cancel_post(r.interaction_id, req.user_id)
    if outcome == "posted":
        await services.slack.tell(reply, "This draft was posted meanwhile; nothing to cancel.")
        return
    if outcome == "busy":
        await services.slack.tell(
            reply, "Steward is trying to post it right now; look again in a moment."
        )
        return
    if outcome == "not_failing":
        await services.slack.tell(reply, "This draft's post is not failing; nothing to cancel.")
        return
    if detail != req.user_id:
        await services.slack.tell(reply, f"<@{detail}> already cancelled this post.")
        return
    await timers.cancel(
        services.redis, *keys.post_retry_timers(r.interaction_id, state.post_attempts + 1)
    )
    approver = state.by if state.status == "approved" else None
    if await drafts.once(r.interaction_id, "post_cancelled"):
        await audit(
            services, state, "discarded", actor_id=req.user_id, approver_id=approver,
            approval_status="approved" if approver else "not_required",
            reason=f"post cancelled by an admin after it failed (`{state.post_error}`)",
        )  # fmt: skip
    line = f"posting failed (`{state.post_error}`); cancelled by <@{req.user_id}>, nothing posted."
    await show_outcome(
        services, state, f":no_entry_sign: Approved by <@{approver}>, but {line}"
        if approver else f":no_entry_sign: {line[0].upper()}{line[1:]}",
    )  # fmt: skip
    if await drafts.once(r.interaction_id, "told_post_cancelled"):
        await services.slack.tell(
            _requester(state),
            f":no_entry_sign: Your draft for {view.target(r)} could not be posted, and an admin "
            "cancelled the retries. Nothing was posted.",
        )
    await services.slack.tell(reply, ":no_entry_sign: Cancelled: Steward will not post it.")
