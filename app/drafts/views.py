"""How drafts and approval requests look in Slack: messages, and the Edit and Reject modals.

Everything here is Steward's own UI around a draft; the draft text itself arrives sanitised.
Buttons carry only the interaction id: what they act on is read back from Redis at click time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
)
from slack_sdk.models.views import View

from app.drafts.store import DraftRecord, DraftState
from app.slack import blocks as bk
from app.slack.mrkdwn import escape

DRAFT_MAX_CHARS = 3000  # a plain_text_input holds at most 3,000 characters
REASON_MAX_CHARS = 500
EDIT_TEXT_BLOCK, EDIT_TEXT_ACTION = "draft_text", "text"
REASON_BLOCK, REASON_ACTION = "reject_reason", "reason"
# The posted message carries this block id: after a crash, Steward finds its own post by it.
POSTED_MARKER = "steward-draft:"

OFFLINE_NOTE = (
    ":gear: *Offline engine* — a template built from your request and the thread; "
    "no AI model wrote this. Edit it before posting."
)


@dataclass(frozen=True)
class DraftCard:
    """What the private draft and the approval request show about a draft."""

    interaction_id: str
    text: str
    target: str  # e.g. "<#C0LAUNCH>" or "a thread in <#C0LAUNCH>"
    confidence: float
    confidence_label: str
    engine: str
    model: str
    redactions: int = 0


def target_label(channel_id: str, thread_ts: str | None) -> str:
    return f"a thread in <#{channel_id}>" if thread_ts else f"<#{channel_id}>"


def target(record: DraftRecord) -> str:
    """Where the draft will be posted, as people read it."""
    return target_label(record.channel_id, record.thread_ts)


def card(state: DraftState) -> DraftCard:
    r = state.record
    return DraftCard(
        interaction_id=r.interaction_id,
        text=state.text,
        target=target(r),
        confidence=r.confidence,
        confidence_label=r.confidence_label,
        engine=r.engine,
        model=r.model,
        redactions=r.redactions,
    )


def describe_approvers(group: str, members: Sequence[str]) -> str:
    people = ", ".join(f"<@{m}>" for m in members) or "_nobody — check the policy's groups_"
    return f"{people} ({group})"


def _engine_line(card: DraftCard) -> str:
    if card.engine == "offline":
        return "offline engine (template, no AI model)"
    return f"{card.engine} · {card.model}"


def _facts(card: DraftCard) -> Block:
    return bk.context(
        "AI-generated draft" if card.engine != "offline" else "Offline-engine draft",
        f"Confidence: *{card.confidence_label}* ({card.confidence:.2f})",
        _engine_line(card),
        f"{card.redactions} redaction(s) before the model" if card.redactions else "no redactions",
    )


def _quoted(text: str) -> list[Block]:
    return bk.sections("\n".join(f">{line}" if line else ">" for line in text.splitlines()))


def draft_message(card: DraftCard, *, needs_approval: bool, approvers: str = "") -> bk.Message:
    """The requester's private draft with Edit, Regenerate, Discard, Post / Submit, Why?."""
    body: list[Block] = [bk.section(f":memo: *Draft for {card.target}*")]
    body += _quoted(card.text)
    if card.engine == "offline":
        body.append(bk.section(OFFLINE_NOTE))
    body.append(_facts(card))
    if needs_approval:
        body.append(bk.context(f"Policy: this needs approval by {approvers} before it is posted."))
    final = (
        bk.button("Submit for approval", "draft_submit", card.interaction_id, style="primary")
        if needs_approval
        else bk.button("Post", "draft_post", card.interaction_id, style="primary")
    )
    body.append(
        bk.actions(
            final,
            bk.button("Edit", "draft_edit", card.interaction_id),
            bk.button("Regenerate", "draft_regenerate", card.interaction_id),
            bk.button("Discard", "draft_discard", card.interaction_id, style="danger"),
            bk.button("Why?", "why", card.interaction_id),
            block_id=f"draft:{card.interaction_id}",
        )
    )
    return bk.message(f"Draft for {card.target}: {card.text}"[:3000], body)


def submitted_message(interaction_id: str, approvers: str, where: str) -> bk.Message:
    text = (
        f":hourglass_flowing_sand: Submitted for approval by {approvers}. "
        f"The request is in {where}."
    )
    body = [
        bk.section(text),
        bk.actions(
            bk.button("Withdraw", "draft_withdraw", interaction_id),
            block_id=f"submitted:{interaction_id}",
        ),
    ]
    return bk.message(text, body)


def notice(text: str) -> bk.Message:
    return bk.message(text, [bk.section(text)])


def approval_parent(requester: str, target: str, outcome: str | None = None) -> bk.Message:
    """The short channel message the approval request hangs under."""
    requester = escape(requester)
    text = f":memo: Draft awaiting approval — requested by {requester} for {target}"
    if outcome:
        text = f":memo: Draft by {requester} for {target}: {outcome}"
    return notice(text)


def approval_request(
    card: DraftCard,
    *,
    requester: str,
    approvers: str,
    step: int,
    status_line: str | None = None,
    cancel_post: bool = False,
) -> bk.Message:
    """The request approvers act on; with `status_line` it is the decided (button-less) form,
    but for `cancel_post`: an approved draft whose post keeps failing, which an admin may stop.

    `requester` is the person's name as Slack holds it (escaped here)."""
    requester = escape(requester)
    lines = [
        "*Draft awaiting approval*" if status_line is None else "*Draft approval*",
        f"Requested by *{requester}* · to be posted in {card.target}",
        f"Approvers: {approvers}" + (f" _(escalated, step {step + 1})_" if step else ""),
    ]
    body: list[Block] = [bk.section("\n".join(lines))]
    body += _quoted(card.text)
    body.append(_facts(card))
    if status_line is not None:
        body.append(bk.section(status_line))
        if cancel_post:
            body.append(
                bk.actions(
                    bk.button("Cancel posting", "post_cancel", card.interaction_id, style="danger"),
                    block_id=f"post_retry:{card.interaction_id}",
                )
            )
    else:
        body.append(
            bk.actions(
                bk.button("Approve", "approval_approve", card.interaction_id, style="primary"),
                bk.button("Edit", "approval_edit", card.interaction_id),
                bk.button("Reject", "approval_reject", card.interaction_id, style="danger"),
                bk.button("Why?", "why", card.interaction_id),
                block_id=f"approval:{card.interaction_id}:{step}",
            )
        )
    fallback = f"Draft awaiting approval from {requester} for {card.target}"
    if status_line is not None:
        fallback = f"Draft from {requester} for {card.target}: {status_line}"
    return bk.message(fallback[:3000], body)


def posted_message(text: str, attribution: str, interaction_id: str) -> bk.Message:
    """The visible post: the text, then who asked for it and who approved it."""
    body: list[Block] = bk.sections(text)
    body.append(
        ContextBlock(
            block_id=f"{POSTED_MARKER}{interaction_id}",
            elements=[MarkdownTextObject(text=attribution[:2000])],
        )
    )
    return bk.message(text[:3000] if text.strip() else attribution, body)


def _modal(
    callback_id: str, title: str, submit: str, metadata: str, blocks: Sequence[Block]
) -> dict[str, Any]:
    view = View(
        type="modal",
        callback_id=callback_id,
        title=PlainTextObject(text=title),
        submit=PlainTextObject(text=submit),
        close=PlainTextObject(text="Cancel"),
        private_metadata=metadata,
        blocks=list(blocks),
    )
    view.validate_json()
    return view.to_dict()


def edit_modal(callback_id: str, metadata: str, text: str, *, approving: bool) -> dict[str, Any]:
    """The draft's text to edit; an approver's submit approves the edited text."""
    field = InputBlock(
        block_id=EDIT_TEXT_BLOCK,
        label=PlainTextObject(text="Draft text"),
        element=PlainTextInputElement(
            action_id=EDIT_TEXT_ACTION,
            multiline=True,
            initial_value=text[:DRAFT_MAX_CHARS],
            max_length=DRAFT_MAX_CHARS,
        ),
    )
    blocks: list[Block] = [field]
    if approving:
        blocks.append(
            bk.context("Submitting approves the edited text; both versions stay in the audit log.")
        )
    title, submit = ("Edit and approve", "Approve") if approving else ("Edit draft", "Save")
    return _modal(callback_id, title, submit, metadata, blocks)


def reject_modal(callback_id: str, metadata: str) -> dict[str, Any]:
    field = InputBlock(
        block_id=REASON_BLOCK,
        label=PlainTextObject(text="Reason"),
        hint=PlainTextObject(text="The requester receives this by DM."),
        element=PlainTextInputElement(
            action_id=REASON_ACTION, multiline=True, max_length=REASON_MAX_CHARS
        ),
    )
    return _modal(callback_id, "Reject draft", "Reject", metadata, [field])
