"""Grants that end: a grant given "for 30 days" carries its `expires_at`, and a durable timer
(app/runtime/timers.py, the same poller that escalates drafts) fires then and removes it.

- The timer is set when the grant is stored and cancelled when it is revoked; its id is the
  grant's, so granting again replaces it.
- The removal is conditional on the grant still being the one the timer was set for
  (`GrantStore.remove_if`), so a newer grant of the same thing is never cut short, and only the
  process that removes it records the `grant_expired` audit event (status `expired`, rule
  `granted request <id>`) and tells the requester: a timer fired twice does nothing twice.
- `decide` also ignores a grant whose time has passed (`GrantStore.in_force`), so a poller that
  is late never extends one.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from pydantic import BaseModel

from app.governance.grants import GrantStore, StoredGrant
from app.runtime import timers
from app.runtime.services import Services
from app.slack.mrkdwn import escape
from app.slack.port import SlackError
from app.slack.reply import ReplyTo

log = logging.getLogger(__name__)

TIMER_KIND = "grant_expiry"


class GrantExpiry(BaseModel):
    """The timer's job: grant `grant_id`, stored at `field`, has reached its end."""

    grant_id: str
    field: str
    team_id: str


def timer_id(grant_id: str) -> str:
    return f"grant:{grant_id}"


async def schedule(services: Services, grant: StoredGrant, team_id: str) -> None:
    if grant.expires_at is None:
        return
    payload = GrantExpiry(grant_id=grant.id, field=grant.field, team_id=team_id)
    due = grant.expires_at.timestamp()
    await timers.schedule(services.redis, timer_id(grant.id), due, TIMER_KIND, payload)


async def cancel(services: Services, grant: StoredGrant) -> None:
    await timers.cancel(services.redis, timer_id(grant.id))


def who_for(grant: StoredGrant) -> str:
    """` for @legal-team` / ` for managers`, or "" for a grant to the whole channel."""
    return f" for {escape(grant.audience)}" if grant.audience else ""


async def run_grant_expiry(services: Services, req: GrantExpiry) -> None:
    grant = await GrantStore(services.redis).remove_if(req.grant_id, req.field)
    if grant is None:
        return  # revoked, granted anew, or expired by another process already
    ends = grant.expires_at or datetime.now(UTC)
    await services.audit.record(
        interaction_id=grant.id,
        event="grant_expired",
        actor_id=grant.requested_by,
        team_id=req.team_id,
        channel_id=grant.channel_id,
        use_case=grant.use_case,
        approval_status="expired",
        approver_id=grant.granted_by,
        rule=f"granted request {grant.id}",
        reason=f"grant expired: {grant.use_case} in {grant.channel_id}"
        + (f" for {grant.audience}" if grant.audience else ""),
        extra={"source": "grant", "expires_at": ends.isoformat(), "audience": grant.audience},
    )
    log.info("grant expired", extra={"grant": grant.id})
    try:
        await services.slack.tell(
            ReplyTo.dm(grant.requested_by),
            f":hourglass: *{grant.use_case}* in <#{grant.channel_id}>{who_for(grant)} has "
            f"ended: it was granted until {ends.strftime('%Y-%m-%d %H:%M UTC')}. Ask again with "
            f"`/steward request {grant.use_case}` if it is still needed.",
        )
    except SlackError as exc:  # the grant has ended either way
        log.warning("could not tell the requester", extra={"code": exc.code})
