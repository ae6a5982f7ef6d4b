"""Draft listeners: /draft, the Draft a reply shortcut, the draft and approval buttons, and the
Edit / Reject modals. Each becomes a job; who may do what is checked by the job, on the server."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from app.drafts import views as view
from app.drafts.approvals import ApprovalAction
from app.drafts.draft import DraftAction, DraftEdit, DraftRequest
from app.drafts.posting import PostCancel
from app.runtime.keys import Lane
from app.runtime.queue import JobQueue
from handlers.common import (
    click_fields,
    shortcut_thread,
    submit_click,
    submit_command,
    submit_modal,
    team_of,
    user_of,
)

USAGE = "Tell me what to write, e.g. `/draft announce that the beta launch moves to May 12`."

DRAFT_BUTTONS = {
    "draft_edit": "edit",
    "draft_regenerate": "regenerate",
    "draft_discard": "discard",
    "draft_post": "post",
    "draft_submit": "submit",
    "draft_withdraw": "withdraw",
}
APPROVAL_BUTTONS = {
    "approval_approve": "approve",
    "approval_edit": "edit",
    "approval_reject": "reject",
}


def _input(body: dict[str, Any], block_id: str, action_id: str) -> str:
    values = body["view"].get("state", {}).get("values", {})
    return str((values.get(block_id, {}).get(action_id) or {}).get("value") or "")


def _metadata(body: dict[str, Any]) -> dict[str, Any]:
    """What the job put in the modal: the draft's id and where to answer."""
    try:
        data = json.loads(body["view"].get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _modal_who(body: dict[str, Any]) -> dict[str, Any]:
    meta = _metadata(body)
    return {
        "interaction_id": str(meta.get("id", "")),
        "user_id": user_of(body),
        "team_id": team_of(body),
    }


def register(app: AsyncApp, queue: JobQueue) -> None:
    @app.command("/draft")
    async def draft_command(ack: AsyncAck, body: dict[str, Any]) -> None:
        what = (body.get("text") or "").strip()
        if not what:
            await ack(text=USAGE)
            return
        job = DraftRequest(
            team_id=team_of(body),
            user_id=body["user_id"],
            what=what,
            channel_id=body["channel_id"],
            trigger="command",
            reply_channel=body["channel_id"],
            response_url=body.get("response_url"),
        )
        await submit_command(queue, ack, body, job)

    @app.shortcut("draft_reply")
    async def draft_reply(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        channel, thread_ts, reply_thread_ts = shortcut_thread(body)
        job = DraftRequest(
            team_id=team_of(body),
            user_id=user_of(body),
            what="a helpful reply to this thread",
            channel_id=channel,
            thread_ts=thread_ts,
            trigger="shortcut",
            reply_channel=channel,
            reply_thread_ts=reply_thread_ts,
            response_url=body.get("response_url"),
        )
        await submit_click(queue, body, job, respond)

    # Bolt passes listener arguments by name, so the button's meaning is bound by a closure.
    # Every button but Regenerate (a model call) is interactive: modals, decisions, posts.
    def clicked(model: type[DraftAction] | type[ApprovalAction], name: Any) -> Any:
        lane: Lane = "normal" if name == "regenerate" else "interactive"

        async def listener(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
            await ack()
            job = model(action=name, **click_fields(body))
            await submit_click(queue, body, job, respond, lane=lane)

        return listener

    for action_id, name in DRAFT_BUTTONS.items():
        app.action(action_id)(clicked(DraftAction, name))
    for action_id, name in APPROVAL_BUTTONS.items():
        app.action(action_id)(clicked(ApprovalAction, name))

    @app.action("post_cancel")
    async def post_cancel(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """Cancel posting, on the request of an approved draft whose post keeps failing."""
        await ack()
        await submit_click(queue, body, PostCancel(**click_fields(body)), respond)

    @app.view("draft_edit")
    async def draft_edited(ack: AsyncAck, body: dict[str, Any]) -> None:
        text = _input(body, view.EDIT_TEXT_BLOCK, view.EDIT_TEXT_ACTION).strip()
        if not text:
            await ack(response_action="errors", errors={view.EDIT_TEXT_BLOCK: "Write the draft."})
            return
        job = DraftEdit(text=text, **_modal_who(body))
        await submit_modal(queue, ack, body, job, view.EDIT_TEXT_BLOCK)

    @app.view("approval_edit")
    async def approval_edited(ack: AsyncAck, body: dict[str, Any]) -> None:
        text = _input(body, view.EDIT_TEXT_BLOCK, view.EDIT_TEXT_ACTION).strip()
        if not text:
            await ack(response_action="errors", errors={view.EDIT_TEXT_BLOCK: "Write the text."})
            return
        channel = _metadata(body).get("channel")
        job = ApprovalAction(
            action="edit_submitted", text=text, channel_id=channel, **_modal_who(body)
        )
        await submit_modal(queue, ack, body, job, view.EDIT_TEXT_BLOCK)

    @app.view("approval_reject")
    async def approval_rejected(ack: AsyncAck, body: dict[str, Any]) -> None:
        reason = _input(body, view.REASON_BLOCK, view.REASON_ACTION).strip()
        if not reason:
            await ack(
                response_action="errors",
                errors={view.REASON_BLOCK: "Say why, so the requester can fix it."},
            )
            return
        channel = _metadata(body).get("channel")
        job = ApprovalAction(
            action="reject_submitted", reason=reason, channel_id=channel, **_modal_who(body)
        )
        await submit_modal(queue, ack, body, job, view.REASON_BLOCK)
