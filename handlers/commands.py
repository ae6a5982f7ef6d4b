"""Slash commands: /steward, /summarize, /draft."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from app.ask.request import USAGE as ASK_USAGE
from app.ask.request import AskRequest, parse_ask_args
from app.commands import SUBCOMMANDS
from app.runtime.queue import JobQueue
from app.steward_command import StewardCommand
from app.summaries.summarize import SummarizeRequest
from app.summaries.targets import USAGE, TargetError, parse_summarize_args
from handlers.common import submit_command, team_of


def register(app: AsyncApp, queue: JobQueue) -> None:
    @app.command("/steward")
    async def steward(ack: AsyncAck, body: dict[str, Any]) -> None:
        text = (body.get("text") or "").strip()
        sub, _, rest = text.partition(" ")
        sub = sub.lower() or "help"
        if sub == "ask":  # model work: a job of its own, on the model lane
            await _ask(ack, body, rest, queue)
            return
        if sub not in SUBCOMMANDS:
            await ack(text=f"Unknown command `{sub[:40]}`. Try `/steward help`.")
            return
        job = StewardCommand(
            team_id=team_of(body),
            user_id=body["user_id"],
            sub=sub,
            args=rest.split(),
            text=rest.strip(),
            channel_id=body.get("channel_id"),
            response_url=body.get("response_url"),
            trigger_id=body.get("trigger_id"),
        )
        await submit_command(queue, ack, body, job, lane="interactive")  # no model work

    @app.command("/summarize")
    async def summarize(ack: AsyncAck, body: dict[str, Any]) -> None:
        try:
            target = parse_summarize_args(body.get("text") or "", body["channel_id"])
        except TargetError as exc:
            await ack(text=f"{exc} {USAGE}")
            return
        job = SummarizeRequest(
            team_id=team_of(body),
            user_id=body["user_id"],
            target=target,
            trigger="command",
            reply_channel=body["channel_id"],
            response_url=body.get("response_url"),
        )
        await submit_command(queue, ack, body, job)


async def _ask(ack: AsyncAck, body: dict[str, Any], text: str, queue: JobQueue) -> None:
    """`/steward ask <thread link | #channel [window]> <question>`."""
    try:
        target, question = parse_ask_args(text, body["channel_id"])
    except TargetError as exc:
        await ack(text=f"{exc} {ASK_USAGE}")
        return
    job = AskRequest(
        team_id=team_of(body),
        user_id=body["user_id"],
        target=target,
        question=question,
        reply_channel=body["channel_id"],
        response_url=body.get("response_url"),
    )
    await submit_command(queue, ack, body, job)
