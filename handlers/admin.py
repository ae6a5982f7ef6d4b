"""Admin buttons: Export under `/steward audit`, Export evidence in Why?. Each job checks the
clicker is an admin."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from app.audit.admin import AuditExportRequest
from app.audit.evidence_export import ACTION as EVIDENCE_ACTION
from app.audit.evidence_export import EvidenceExportRequest
from app.runtime.queue import JobQueue
from handlers.common import channel_of, submit_click, team_of, user_of


def register(app: AsyncApp, queue: JobQueue) -> None:
    @app.action("audit_export")
    async def export(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        job = AuditExportRequest(
            user_id=user_of(body),
            team_id=team_of(body),
            query=str(body["actions"][0].get("value", "")),
            channel_id=channel_of(body),
            response_url=body.get("response_url"),
        )
        await submit_click(queue, body, job, respond, lane="interactive")

    @app.action(EVIDENCE_ACTION)
    async def evidence(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        job = EvidenceExportRequest(
            interaction_id=str(body["actions"][0].get("value", "")),
            user_id=user_of(body),
            team_id=team_of(body),
            channel_id=channel_of(body),
            response_url=body.get("response_url"),
        )
        await submit_click(queue, body, job, respond, lane="interactive")
