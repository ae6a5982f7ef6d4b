"""Slash commands: /steward, /summarize, /draft."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from app.jobs import HelpRequest
from app.queue import JobQueue, Notify, QueueUnavailable
from handlers.common import UNAVAILABLE, submit

STEWARD_SUBCOMMANDS = {"help", "audit", "usage", "policy", "pause", "resume", "request"}


def _help_request(body: dict[str, Any], note: str | None = None) -> HelpRequest:
    return HelpRequest(
        team_id=body.get("team_id", ""),
        user_id=body["user_id"],
        channel_id=body.get("channel_id"),
        response_url=body.get("response_url"),
        note=note,
    )


def _notify(body: dict[str, Any]) -> Notify:
    return Notify(
        user_id=body["user_id"],
        channel_id=body.get("channel_id"),
        response_url=body.get("response_url"),
    )


def register(app: AsyncApp, queue: JobQueue) -> None:
    @app.command("/steward")
    async def steward(ack: AsyncAck, body: dict[str, Any]) -> None:
        words = (body.get("text") or "").split()
        sub = words[0].lower() if words else "help"
        if sub not in STEWARD_SUBCOMMANDS:
            await ack(text=f"Unknown command `{sub[:40]}`. Try `/steward help`.")
            return
        note = None if sub == "help" else f"`/steward {sub}` is not available yet."
        try:
            await submit(queue, _help_request(body, note), notify=_notify(body))
        except QueueUnavailable:
            await ack(text=UNAVAILABLE)
            return
        await ack()
