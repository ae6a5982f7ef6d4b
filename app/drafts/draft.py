"""Draft a message for someone: from `/draft`, the Draft a reply shortcut, or "@Steward draft".

policy → (thread read, redacted, datamarked) → model or offline template → sanitise → score →
audit → private draft with Edit / Regenerate / Discard / Post or Submit for approval / Why?.
Writing the text is writer.py; what happens after Submit lives in submitting.py, approvals.py
(deciding), deadlines.py and posting.py; this module owns the draft until then. Each job builds
one `Drafts` and works from the states its transitions return. Showing the new draft is its own
step (`app/slack/delivery.py`): a re-run after a failed delivery only shows it again.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.drafts import context as thread_context
from app.drafts import submitting
from app.drafts import views as view
from app.drafts.approvals import clean_human_text
from app.drafts.posting import ensure_posted, retry_note
from app.drafts.store import DraftRecord, Drafts, DraftState
from app.drafts.trail import USE_CASE, audit
from app.drafts.writer import Generation, generate
from app.governance import gate as governance
from app.governance import resolution
from app.governance.approvers import members_of
from app.governance.gate import Refusal
from app.model.llm import ModelError
from app.model.redact import redact
from app.runtime.services import Services
from app.slack import delivery
from app.slack.messages import SourceMessage
from app.slack.reply import AskedPrivately, ReplyTo

log = logging.getLogger(__name__)

Trigger = Literal["command", "shortcut", "mention", "pane"]


class DraftRequest(AskedPrivately):
    interaction_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    team_id: str
    what: str  # untrusted: what the person asked for
    channel_id: str  # where the draft would be posted
    thread_ts: str | None = None  # a reply: the thread is read as context
    trigger: Trigger


class DraftAction(BaseModel):
    """A click on the requester's private draft (or the Withdraw button)."""

    interaction_id: str
    user_id: str
    team_id: str
    action: Literal["edit", "regenerate", "discard", "post", "submit", "withdraw"]
    click_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    trigger_id: str | None = None
    channel_id: str | None = None
    response_url: str | None = None


class DraftEdit(BaseModel):
    """The requester's Edit modal, submitted."""

    interaction_id: str
    user_id: str
    team_id: str
    text: str


# ---------------------------------------------------------------------------------------------
# The use case
# ---------------------------------------------------------------------------------------------


def _base(req: DraftRequest) -> dict[str, Any]:
    return {
        "interaction_id": req.interaction_id,
        "actor_id": req.user_id,
        "team_id": req.team_id,
        "channel_id": req.channel_id,
        "use_case": USE_CASE,
    }


async def _approvers_text(services: Services, decision: resolution.Decision) -> str:
    if decision.approval is None:
        return ""
    group = decision.approval.steps[0].group
    return view.describe_approvers(group, await members_of(services, group))


async def current_rule(services: Services, state: DraftState) -> resolution.Decision:
    r = state.record
    return await governance.decide(services, r.user_id, USE_CASE, r.channel_id)


async def _record_generated(
    services: Services, base: dict[str, Any], decision: resolution.Decision, gen: Generation
) -> None:
    await services.audit.record(
        event="generated",
        **base,
        approval_status="not_required" if decision.approval is None else "pending",
        rule=decision.full_rule,
        model=gen.model,
        engine=gen.engine,
        prompt_version=gen.prompt_version,
        sources=gen.sources,
        output=gen.text,
        confidence=gen.confidence.value,
        tokens_in=gen.tokens_in,
        tokens_out=gen.tokens_out,
        latency_ms=gen.latency_ms,
        redactions=gen.redactions,
        extra={
            "span": gen.span,
            "model_calls": gen.model_calls,
            "cached_chunks": 0,
            "confidence": gen.confidence.detail(),
        },
    )


async def run_draft(services: Services, req: DraftRequest) -> None:
    if await delivery.resume(services.redis, services.slack, req.interaction_id):
        return  # a re-run after the draft was made: shown again if it never got out
    async with governance.in_flight(services, req.team_id, req.user_id, req.interaction_id) as slot:
        await _run_draft(services, req, slot)


async def _run_draft(services: Services, req: DraftRequest, slot: bool) -> None:
    decision = await governance.decide(services, req.user_id, USE_CASE, req.channel_id)
    base = _base(req)
    # What is kept (audit, draft record) is redacted like what the model is sent.
    asked = redact(req.what).text if decision.redact_pii else req.what
    await services.audit.record(
        event="requested",
        **base,
        approval_status="not_required" if decision.approval is None else "pending",
        rule=decision.full_rule,
        extra={
            "trigger": req.trigger,
            "request": asked,
            "target_channel": req.channel_id,
            "target_thread_ts": req.thread_ts,
        },
    )
    try:
        await governance.check(services, decision)
        # The limits before any Slack or model work: a flood is refused without a fetch.
        await governance.admit(
            services, req.team_id, req.user_id, decision, slot=slot, use_case=USE_CASE
        )
        thread = await _read(services, req)
        gen = await generate(services, decision, req.what, req.team_id, req.user_id, thread)
    except Refusal as refusal:
        await services.audit.record(
            event="refused", **base, reason=refusal.code, rule=decision.full_rule
        )
        await services.slack.tell(req.reply_to, refusal.message)
        return
    except ModelError as exc:
        await services.audit.record(
            event="failed", **base, reason=f"model: {exc.code}", rule=decision.full_rule
        )
        await services.slack.tell(
            req.reply_to, f":warning: {exc.user_message} No draft was made. {exc.next_step}"
        )
        return
    await _record_generated(services, base, decision, gen)
    record = DraftRecord(
        interaction_id=req.interaction_id,
        team_id=req.team_id,
        user_id=req.user_id,
        channel_id=req.channel_id,
        thread_ts=req.thread_ts,
        request=asked,
        engine=gen.engine,
        model=gen.model,
        confidence=gen.confidence.value,
        confidence_label=gen.confidence.label,
        redactions=sum(gen.redactions.values()),
        rule=decision.full_rule,
        reply_channel=req.reply_channel,
        reply_thread_ts=req.reply_thread_ts,
        needs_approval=decision.approval is not None,
    )
    state = await Drafts(services.redis).create(record, gen.text)
    message = view.draft_message(
        view.card(state),
        needs_approval=decision.approval is not None,
        approvers=await _approvers_text(services, decision),
    )
    await delivery.deliver(
        services.redis, services.slack, req.interaction_id, req.reply_to, message.text,
        message.blocks,
    )  # fmt: skip
    log.info(
        "draft delivered",
        extra={
            "interaction_id": req.interaction_id,
            "use_case": USE_CASE,
            "engine": gen.engine,
            "messages": len(gen.sources),
            "tokens_in": gen.tokens_in,
            "tokens_out": gen.tokens_out,
            "outcome": "generated",
        },
    )


async def _read(services: Services, req: DraftRequest) -> list[SourceMessage]:
    if not req.thread_ts:
        return []
    return await thread_context.read_thread(
        services, req.team_id, req.user_id, req.channel_id, req.thread_ts
    )


# ---------------------------------------------------------------------------------------------
# The requester's buttons
# ---------------------------------------------------------------------------------------------


async def _show(services: Services, state: DraftState, req: DraftAction) -> None:
    decision = await current_rule(services, state)
    message = view.draft_message(
        view.card(state),
        needs_approval=decision.approval is not None,
        approvers=await _approvers_text(services, decision),
    )
    await services.slack.tell(ReplyTo.of(req), message.text, message.blocks)


async def run_draft_action(services: Services, req: DraftAction) -> None:
    drafts = Drafts(services.redis)
    state = await drafts.get(req.interaction_id)
    if state is None:
        await services.slack.tell(ReplyTo.of(req), "That draft has expired; run /draft again.")
        return
    if req.user_id != state.record.user_id:
        await audit(
            services, state, "refused", actor_id=req.user_id, approval_status=None,
            reason=f"{req.action}: not the requester",
        )  # fmt: skip
        await services.slack.tell(
            ReplyTo.of(req), ":no_entry: Only the person who asked for this draft can do that."
        )
        return
    handler = {
        "edit": _edit,
        "regenerate": _regenerate,
        "discard": _discard,
        "post": _post,
        "submit": _submit,
        "withdraw": _withdraw,
    }[req.action]
    await handler(services, drafts, state, req)


def _not_a_draft(status: str) -> str:
    return {
        "pending": "This draft is waiting for approval; withdraw it first to change it.",
        "approved": "This draft was already approved.",
        "direct": "This draft was already posted.",
        "rejected": "This draft was rejected.",
        "expired": "This draft's approval request expired.",
        "withdrawn": "This draft was withdrawn.",
        "discarded": "This draft was discarded.",
    }.get(status, "This draft can no longer be changed.")


async def _edit(services: Services, drafts: Drafts, state: DraftState, req: DraftAction) -> None:
    if state.status != "draft":
        await services.slack.tell(ReplyTo.of(req), _not_a_draft(state.status))
        return
    if req.trigger_id:
        metadata = json.dumps({"id": state.record.interaction_id})
        await services.slack.open_view(
            req.trigger_id, view.edit_modal("draft_edit", metadata, state.text, approving=False)
        )


async def run_draft_edit(services: Services, req: DraftEdit) -> None:
    drafts = Drafts(services.redis)
    state = await drafts.get(req.interaction_id)
    if state is None or req.user_id != state.record.user_id:
        return  # the modal was only ever opened for the requester
    text = clean_human_text(req.text)
    previous = await drafts.set_text(req.interaction_id, "draft", text)
    if previous is None:
        await services.slack.tell(
            ReplyTo(user_id=req.user_id, channel_id=state.record.reply_channel),
            _not_a_draft(state.status),
        )
        return
    await audit(
        services, state, "edited", actor_id=req.user_id, approval_status=None,
        output=text, extra={"previous": previous},
    )  # fmt: skip
    fresh = state.model_copy(update={"text": text})
    decision = await current_rule(services, fresh)
    message = view.draft_message(
        view.card(fresh),
        needs_approval=decision.approval is not None,
        approvers=await _approvers_text(services, decision),
    )
    r = fresh.record
    await services.slack.tell(
        ReplyTo(user_id=r.user_id, channel_id=r.reply_channel, thread_ts=r.reply_thread_ts),
        message.text,
        message.blocks,
    )


async def _regenerate(
    services: Services, drafts: Drafts, state: DraftState, req: DraftAction
) -> None:
    reply = ReplyTo.of(req)
    if state.status != "draft":
        await services.slack.tell(reply, _not_a_draft(state.status))
        return
    r = state.record
    decision = await current_rule(services, state)
    again = DraftRequest(
        interaction_id=r.interaction_id, team_id=r.team_id, user_id=r.user_id, what=r.request,
        channel_id=r.channel_id, thread_ts=r.thread_ts, trigger="command",
    )  # fmt: skip
    try:
        await governance.check(services, decision)
        async with governance.in_flight(services, r.team_id, r.user_id, req.click_id) as slot:
            await governance.admit(
                services, r.team_id, r.user_id, decision, slot=slot, use_case=USE_CASE
            )
            thread = await _read(services, again)
            gen = await generate(
                services, decision, again.what, again.team_id, again.user_id, thread
            )
    except Refusal as refusal:
        await _refused(services, state, req, refusal, refusal.code)
        return
    except ModelError as exc:
        await services.slack.tell(reply, f":warning: {exc.user_message} The draft was not changed.")
        return
    if await drafts.set_text(r.interaction_id, "draft", gen.text) is None:
        await services.slack.tell(reply, _not_a_draft(state.status))
        return
    await _record_generated(services, _base(again), decision, gen)
    await _show(services, state.model_copy(update={"text": gen.text}), req)


async def _discard(services: Services, drafts: Drafts, state: DraftState, req: DraftAction) -> None:
    outcome = await drafts.transition(
        state.record.interaction_id, ["draft"], "discarded", actor=req.user_id, click=req.click_id
    )
    if not outcome.won:
        await services.slack.tell(ReplyTo.of(req), _not_a_draft(outcome.status))
        return
    if await drafts.once(state.record.interaction_id, "discarded"):
        await audit(
            services, state, "discarded", actor_id=req.user_id, approval_status=None,
            reason="discarded by the requester",
        )  # fmt: skip
    await services.slack.tell(ReplyTo.of(req), ":wastebasket: Draft discarded. Nothing was posted.")


async def _allowed(
    services: Services,
    state: DraftState,
    req: DraftAction,
    decision: resolution.Decision,
    what: str,
) -> bool:
    """Policy and pause still allow this step; otherwise refuse it, audited, and say why."""
    try:
        await governance.check(services, decision)
    except Refusal as refusal:
        await _refused(services, state, req, refusal, f"{what}: {refusal.code}")
        return False
    return True


async def _refused(
    services: Services, state: DraftState, req: DraftAction, refusal: Refusal, reason: str
) -> None:
    """A click governance refuses: one `refused` event, and the person told why."""
    await audit(
        services, state, "refused", actor_id=req.user_id, approval_status=None, reason=reason
    )
    await services.slack.tell(ReplyTo.of(req), refusal.message)


async def _post(services: Services, drafts: Drafts, state: DraftState, req: DraftAction) -> None:
    """Post without approval — only while the policy still says none is needed."""
    decision = await current_rule(services, state)
    if not await _allowed(services, state, req, decision, "post"):
        return
    if decision.approval is not None:
        await audit(
            services, state, "refused", actor_id=req.user_id, approval_status="pending",
            reason="post: approval required",
        )  # fmt: skip
        await services.slack.tell(
            ReplyTo.of(req),
            ":lock: Policy now requires approval for drafts here: use *Submit for approval*.",
        )
        await _show(services, state, req)
        return
    outcome = await drafts.transition(
        state.record.interaction_id, ["draft"], "direct", actor=req.user_id, click=req.click_id,
        claim_post=True,
    )  # fmt: skip
    if not outcome.won:
        failing = retry_note(outcome.state) if outcome.state else None
        await services.slack.tell(ReplyTo.of(req), failing or _not_a_draft(outcome.status))
        return
    fresh = outcome.state or state
    await ensure_posted(services, drafts, fresh, req.click_id, approver=None, claim=outcome.claim)


async def _submit(services: Services, drafts: Drafts, state: DraftState, req: DraftAction) -> None:
    decision = await current_rule(services, state)
    if decision.approval is None:
        await _post(services, drafts, state, req)
        return
    if not await _allowed(services, state, req, decision, "submit"):
        return
    reply = ReplyTo.of(req)
    try:
        outcome = await submitting.submit(services, drafts, state, decision.approval, req.click_id)
    except submitting.RequestChannelUnavailable as exc:
        await audit(
            services, state, "failed", actor_id=req.user_id,
            approval_status="withdrawn" if exc.was_pending else None,
            reason=f"submit: approval channel {exc.channel} unavailable",
        )  # fmt: skip
        await services.slack.tell(reply, exc.user_message)
        return
    if not outcome.won:
        await services.slack.tell(
            reply,
            _not_a_draft(outcome.status)
            if outcome.status != "pending"
            else "This draft is already waiting for approval.",
        )
        return
    fresh = outcome.state or state
    where = f"<#{fresh.approval_channel}>" if fresh.approval_channel else "the channel"
    message = view.submitted_message(
        fresh.record.interaction_id, view.describe_approvers(fresh.group, fresh.approvers), where
    )
    await services.slack.tell(reply, message.text, message.blocks)


async def _withdraw(
    services: Services, drafts: Drafts, state: DraftState, req: DraftAction
) -> None:
    outcome = await submitting.withdraw(services, drafts, state, req.click_id)
    if not outcome.won:
        await services.slack.tell(
            ReplyTo.of(req),
            _not_a_draft(outcome.status)
            if outcome.status != "pending"
            else "Could not withdraw it.",
        )
        return
    await services.slack.tell(
        ReplyTo.of(req), ":leftwards_arrow_with_hook: Withdrawn. Nothing was posted."
    )
