"""Draft listeners: /draft, the Draft a reply shortcut, the draft and approval buttons, and the
Edit / Reject modals. Each becomes a job; who may do what is checked by the job, on the server."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from app import draft_view as view
from app.approvals import ApprovalAction
from app.draft import DraftAction, DraftEdit, DraftRequest
from app.queue import JobQueue, QueueUnavailable
from handlers.common import UNAVAILABLE, channel_of, notify_of, submit, team_of, user_of

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


def _click(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "interaction_id": body["actions"][0].get("value", ""),
        "user_id": user_of(body),
        "team_id": team_of(body),
        "trigger_id": body.get("trigger_id"),
        "channel_id": channel_of(body),
        "response_url": body.get("response_url"),
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
    async def enqueue(job: BaseModel, body: dict[str, Any], respond: AsyncRespond | None) -> None:
        try:
            await submit(queue, job, notify=notify_of(body))
        except QueueUnavailable:
            if respond is not None:
                await respond(text=UNAVAILABLE, response_type="ephemeral", replace_original=False)

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
        try:
            await submit(queue, job, notify=notify_of(body))
        except QueueUnavailable:
            await ack(text=UNAVAILABLE)
            return
        await ack()

    @app.shortcut("draft_reply")
    async def draft_reply(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        message = body.get("message") or {}
        channel = body["channel"]["id"]
        thread_ts = message.get("thread_ts") or message["ts"]
        job = DraftRequest(
            team_id=team_of(body),
            user_id=user_of(body),
            what="a helpful reply to this thread",
            channel_id=channel,
            thread_ts=thread_ts,
            trigger="shortcut",
            reply_channel=channel,
            reply_thread_ts=message.get("thread_ts"),
            response_url=body.get("response_url"),
        )
        await enqueue(job, body, respond)

    # Bolt passes listener arguments by name, so the button's meaning is bound by a closure.
    def clicked(model: type[DraftAction] | type[ApprovalAction], name: Any) -> Any:
        async def listener(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
            await ack()
            await enqueue(model(action=name, **_click(body)), body, respond)

        return listener

    for action_id, name in DRAFT_BUTTONS.items():
        app.action(action_id)(clicked(DraftAction, name))
    for action_id, name in APPROVAL_BUTTONS.items():
        app.action(action_id)(clicked(ApprovalAction, name))

    @app.view("draft_edit")
    async def draft_edited(ack: AsyncAck, body: dict[str, Any]) -> None:
        text = _input(body, view.EDIT_TEXT_BLOCK, view.EDIT_TEXT_ACTION).strip()
        if not text:
            await ack(response_action="errors", errors={view.EDIT_TEXT_BLOCK: "Write the draft."})
            return
        await ack()
        job = DraftEdit(text=text, **_modal_who(body))
        await enqueue(job, body, None)

    @app.view("approval_edit")
    async def approval_edited(ack: AsyncAck, body: dict[str, Any]) -> None:
        text = _input(body, view.EDIT_TEXT_BLOCK, view.EDIT_TEXT_ACTION).strip()
        if not text:
            await ack(response_action="errors", errors={view.EDIT_TEXT_BLOCK: "Write the text."})
            return
        await ack()
        channel = _metadata(body).get("channel")
        job = ApprovalAction(
            action="edit_submitted", text=text, channel_id=channel, **_modal_who(body)
        )
        await enqueue(job, body, None)

    @app.view("approval_reject")
    async def approval_rejected(ack: AsyncAck, body: dict[str, Any]) -> None:
        reason = _input(body, view.REASON_BLOCK, view.REASON_ACTION).strip()
        if not reason:
            await ack(
                response_action="errors",
                errors={view.REASON_BLOCK: "Say why, so the requester can fix it."},
            )
            return
        await ack()
        channel = _metadata(body).get("channel")
        job = ApprovalAction(
            action="reject_submitted", reason=reason, channel_id=channel, **_modal_who(body)
        )
        await enqueue(job, body, None)
