"""Backpressure: a person's request refused because the normal lane's backlog is at its bound.

Past `STEWARD_MAX_BACKLOG` jobs waiting or running in the normal lane, the queue refuses a new
request in the same script that would have added it (app/runtime/batch.py), so a burst cannot
overshoot the bound. Here is what a refusal does: it is counted
(`steward_limited_total{limit="backlog"}`), logged as one structured line, written to the audit
trail as a `refused` event (reason `busy: backlog`), as the other limits' refusals are, and the
person is told at once, privately: a slash command in its acknowledgement, a click through its
response_url (handlers/common.py), a mention or a DM with an ephemeral. Nothing is queued.

The interactive lane (clicks, modals, decisions) is never refused: it calls no model, and a
trigger_id lasts 3 seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from urllib.parse import parse_qs

from pydantic import BaseModel

from app.runtime import metrics
from app.runtime.inbox import KIND as SLACK_REQUEST
from app.runtime.inbox import SlackRequest
from app.runtime.services import Services
from app.slack.reply import ReplyTo

log = logging.getLogger(__name__)

BACKLOG = "backlog"  # the limit's label and the audit reason's code
BUSY_TEXT = (
    ":hourglass: Steward is busy right now — try again in a minute. Nothing was done, so "
    "your request is not waiting in line."
)
_telling: set[asyncio.Task[None]] = set()  # ephemerals on their way, kept from the GC


def _request_fields(payload: BaseModel) -> tuple[str | None, str | None, bool]:
    """(team, use case, whether the person must be told by a post) of a queued request."""
    if not isinstance(payload, SlackRequest):
        team = getattr(payload, "team_id", None)
        return team, None, False
    body = payload.body
    if body.startswith("{"):  # an event: nobody waits on an HTTP answer, so tell them
        envelope = json.loads(body)
        return envelope.get("team_id"), None, True
    form = parse_qs(body)
    command = (form.get("command") or [""])[0].lstrip("/")
    team = form.get("team_id") or [""]
    return team[0] or None, command or None, False


async def refuse(services: Services, kind: str, payload: BaseModel, asker: ReplyTo | None) -> None:
    """Count, log and audit one refusal (called by the queue before it raises QueueBusy); a
    mention or DM is answered here, a command or click by its handler."""
    team, command, post = _request_fields(payload)
    use_case = command if kind == SLACK_REQUEST else kind
    metrics.LIMITED.labels(use_case=use_case or "unknown", limit=BACKLOG).inc()
    bound = services.queue.config.max_backlog
    log.warning(
        "request refused: the normal lane's backlog is at its bound",
        extra={"kind": kind, "use_case": use_case, "max_backlog": bound, "limit": BACKLOG},
    )
    interaction = getattr(payload, "interaction_id", None) or uuid.uuid4().hex
    try:
        await services.audit.record(
            interaction_id=interaction,
            event="refused",
            actor_id=asker.user_id if asker else None,
            team_id=team,
            channel_id=asker.channel_id if asker else None,
            use_case=use_case,
            reason=f"busy: {BACKLOG}",
            extra={"max_backlog": bound},
        )
    except Exception as exc:  # the person is still told; the log line above stays
        log.warning("could not audit a backlog refusal", extra={"error": type(exc).__name__})
    if post and asker is not None and asker.channel_id:
        task = asyncio.ensure_future(_tell(services, asker))
        _telling.add(task)
        task.add_done_callback(_telling.discard)


async def _tell(services: Services, asker: ReplyTo) -> None:
    try:
        await services.slack.tell(asker, BUSY_TEXT)
    except Exception as exc:
        log.warning("could not tell a refused person", extra={"error": type(exc).__name__})
