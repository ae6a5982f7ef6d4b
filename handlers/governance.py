"""Governance buttons: Approve/Reject on a use-case request, Revoke on a grant.

Each click becomes a job; whether the clicker is an admin is decided by the job, on the server.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from app.governance.requests import (
    APPROVE_ACTION,
    APPROVE_FOR_ACTION,
    REJECT_ACTION,
    REVOKE_ACTION,
    GrantRevoke,
    UseCaseDecision,
)
from app.runtime.queue import JobQueue
from handlers.common import channel_of, submit_click, team_of, user_of


def _who(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "user_id": user_of(body),
        "team_id": team_of(body),
        "channel_id": channel_of(body),
        "response_url": body.get("response_url"),
    }


def _value(body: dict[str, Any]) -> str:
    return str(body["actions"][0].get("value", ""))


def register(app: AsyncApp, queue: JobQueue) -> None:
    @app.action(APPROVE_ACTION)
    async def approve(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        request_id, _, grant_for = _value(body).partition("|")  # "Approve for 30 days"
        job = UseCaseDecision(
            request_id=request_id, verdict="approved", grant_for=grant_for or None, **_who(body)
        )
        await submit_click(queue, body, job, respond, lane="interactive")

    app.action(APPROVE_FOR_ACTION)(approve)  # the same, for a set time

    @app.action(REJECT_ACTION)
    async def reject(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        job = UseCaseDecision(request_id=_value(body), verdict="rejected", **_who(body))
        await submit_click(queue, body, job, respond, lane="interactive")

    @app.action(REVOKE_ACTION)
    async def revoke(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        use_case, _, rest = _value(body).partition(":")
        channel, _, audience = rest.partition(":")  # a grant for a group names it last
        job = GrantRevoke(
            use_case=use_case, grant_channel_id=channel, audience=audience or None, **_who(body)
        )
        await submit_click(queue, body, job, respond, lane="interactive")
