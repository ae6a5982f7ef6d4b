"""Use-case requests: "who approves new AI use cases?" answered inside Slack.

In a channel where a use case is off, `/steward request <use-case> <purpose…>` sends every admin
(the policy's `admins`) a DM with **Approve** / **Reject**. The first admin to decide wins; the
click is checked on the server by app/governance/admins.py (a non-admin is refused and a
`refused` event written). Approval stores a grant (app/governance/grants.py) that turns the use
case on in that channel at once, in every process; both sides are told, and the admins' DMs are
updated to show who decided.

Audit events (interaction id = the request id, `ucr_…`):
- `use_case_requested` (approval_status `pending`, the purpose in `extra.purpose`);
- `use_case_granted` (approval_status `approved`, `approver_id`);
- `rejected` (approval_status `rejected`, `approver_id`): the spec's own word for a "no", so an
  admin filtering on `rejected` sees rejected drafts and rejected requests alike;
- `refused` when a non-admin clicks (its own interaction id, reason `<what>: admins only`);
- `policy_changed` when an admin revokes a grant (`extra.source = "grant"`), because a revoke
  changes the policy in force just as a file edit does.

Redis (keys built in app/governance/keys.py): `steward:ucr:<id>` (JSON UseCaseRequest, 90 days),
`steward:ucr:pending:<uc>:<channel>` (the open request for that pair, so asking twice does not
spam the admins), and
`steward:ucr:<id>:decision` ("approved|U…", SET NX: the first admin's click wins).
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel

from app.governance import grant_expiry, keys, request_text, resolution
from app.governance import policy_schema as policy_
from app.governance.admins import require_role
from app.governance.approvers import group_members
from app.governance.durations import format_duration, parse_duration
from app.governance.grants import GrantStore, StoredGrant
from app.runtime.services import Services
from app.slack import blocks as bk
from app.slack.mrkdwn import escape
from app.slack.port import SlackError
from app.slack.reply import ReplyTo
from app.steward_command import StewardCommand

log = logging.getLogger(__name__)

REQUEST_TTL = timedelta(days=90)
USAGE = (
    "Usage: `/steward request <use-case> [@user-group | --group <group>] [for 30 days] "
    "<purpose>`, e.g. `/steward request draft to draft the weekly release notes` or "
    "`/steward request draft @legal-team for 30 days contract review`."
)
ADMIN_CHOICE = timedelta(days=30)  # the set time an admin may grant for, besides the asked one
APPROVE_ACTION = "use_case_approve"
APPROVE_FOR_ACTION = "use_case_approve_for"  # value "<request id>|<duration>"
REJECT_ACTION = "use_case_reject"
REVOKE_ACTION = "grant_revoke"

Verdict = Literal["approved", "rejected"]


class UseCaseRequest(BaseModel):
    id: str
    team_id: str
    use_case: str
    channel_id: str
    requested_by: str
    purpose: str
    at: datetime
    status: Literal["pending", "approved", "rejected"] = "pending"
    decided_by: str | None = None
    admin_messages: list[tuple[str, str]] = []  # (DM channel, ts) of each admin's copy
    audience: str | None = None  # for these people only: "@handle" or a policy group
    duration_s: int | None = None  # asked to last this long; None: until revoked

    @property
    def duration(self) -> timedelta | None:
        return None if self.duration_s is None else timedelta(seconds=self.duration_s)


class UseCaseDecision(BaseModel):
    """An admin clicked Approve or Reject on a use-case request."""

    request_id: str
    verdict: Verdict
    user_id: str
    team_id: str
    channel_id: str | None = None
    response_url: str | None = None
    grant_for: str | None = None  # "Approve for 30 days": this duration, not the asked one


class GrantRevoke(BaseModel):
    """An admin clicked Revoke on a grant in the `/steward policy` view."""

    use_case: str
    grant_channel_id: str
    audience: str | None = None
    user_id: str
    team_id: str
    channel_id: str | None = None
    response_url: str | None = None


async def _save(services: Services, req: UseCaseRequest) -> None:
    await services.redis.set(keys.use_case_request(req.id), req.model_dump_json(), ex=REQUEST_TTL)


async def _get(services: Services, key: str) -> str | None:
    raw = await services.redis.get(key)  # decode_responses=True: text
    return None if raw is None else str(raw)


async def load_request(services: Services, request_id: str) -> UseCaseRequest | None:
    raw = await services.redis.get(keys.use_case_request(request_id))
    return UseCaseRequest.model_validate_json(raw) if raw else None


# ---------------------------------------------------------------------------------------------
# Asking
# ---------------------------------------------------------------------------------------------


async def run_request(services: Services, reply_to: ReplyTo, cmd: StewardCommand) -> None:
    """`/steward request <use-case> [who] [how long] <purpose…>` in the channel that should
    get it (app/governance/request_text.py reads the options)."""
    asked = request_text.parse(cmd.text)
    use_case, purpose, audience = asked.use_case, asked.purpose.strip(), asked.audience
    problem = asked.problem and f"{asked.problem} {USAGE}"
    problem = problem or _request_problem(services.policy, use_case, purpose, cmd.channel_id)
    problem = problem or await _audience_problem(services, audience)
    if problem is not None:
        await services.slack.tell(reply_to, problem)
        return
    assert cmd.channel_id is not None  # checked by _request_problem
    duration = asked.duration
    request = UseCaseRequest(
        id=f"ucr_{uuid.uuid4().hex[:16]}",
        team_id=cmd.team_id,
        use_case=use_case,
        channel_id=cmd.channel_id,
        requested_by=cmd.user_id,
        purpose=purpose[:1000],
        at=datetime.now(UTC),
        audience=audience,
        duration_s=None if duration is None else int(duration.total_seconds()),
    )
    pending = keys.open_use_case_request(use_case, cmd.channel_id, audience)
    if not await services.redis.set(pending, request.id, nx=True, ex=REQUEST_TTL):
        open_id = await _get(services, pending)
        existing = await load_request(services, open_id) if open_id else None
        who = f" (asked by <@{existing.requested_by}>)" if existing else ""
        await services.slack.tell(
            reply_to,
            f":hourglass: A request for *{use_case}* in <#{cmd.channel_id}>{_for(audience)} is "
            f"already waiting for the admins{who}.",
        )
        return
    await services.audit.record(
        interaction_id=request.id,
        event="use_case_requested",
        actor_id=cmd.user_id,
        team_id=cmd.team_id,
        channel_id=cmd.channel_id,
        use_case=use_case,
        approval_status="pending",
        extra={"purpose": request.purpose, "audience": audience, "duration_s": request.duration_s},
    )
    request.admin_messages = await _ask_admins(services, request)
    await _save(services, request)
    await services.slack.tell(
        reply_to,
        f":envelope_with_arrow: Asked the admins to enable *{use_case}* in <#{cmd.channel_id}>"
        f"{_for(audience)}{_lasting(duration)}. You'll get a message when they decide.",
    )


def _for(audience: str | None) -> str:
    return f" for {escape(audience)}" if audience else ""


def _lasting(duration: timedelta | None) -> str:
    return f" for {request_text.shown(duration)}" if duration is not None else ""


async def _audience_problem(services: Services, audience: str | None) -> str | None:
    """Why a request cannot be for `audience` (an unknown group); None when it can."""
    if audience is None or audience in services.policy.groups:
        return None
    if not audience.startswith("@"):
        known = ", ".join(f"`{g}`" for g in sorted(services.policy.groups)) or "none"
        return f"There is no group *{escape(audience)}* in the AI policy (groups: {known})."
    try:
        members = await group_members(services, audience)
    except SlackError:
        return "Couldn't check that user group with Slack just now. Try again in a few minutes."
    if not members:
        return f"Slack has no user group *{escape(audience)}* with anyone in it."
    return None


def _request_problem(
    policy: policy_.Policy, use_case: str, purpose: str, channel_id: str | None
) -> str | None:
    """Why this request cannot be sent, in words for the person; None when it can."""
    known = ", ".join(f"`{name}`" for name in sorted(policy.use_cases)) or "none"
    if not use_case:
        return f"{USAGE} Use cases in this workspace's policy: {known}."
    if not channel_id:
        return "Run `/steward request` in the channel that should get the use case."
    if use_case not in policy.use_cases:
        return (
            f"*{escape(use_case)}* is not a use case in this workspace's AI policy "
            f"(use cases: {known}). "
            "Adding one takes a policy change; ask the admins."
        )
    if not purpose:
        return f"Please say what you need *{use_case}* for. {USAGE}"
    if not policy.admins:
        return "This workspace's AI policy names no admins, so there is nobody to ask yet."
    on, rule = resolution.channel_rule(policy, use_case, channel_id)
    if on:
        return f"*{use_case}* is already on in <#{channel_id}> (rule: `{rule}`)."
    if not resolution.grantable(policy, use_case, channel_id):
        return (
            f"*{use_case}* is turned off in <#{channel_id}> on purpose by the policy file "
            f"(rule: `{rule}`), so a request cannot enable it; that takes a policy "
            "change by the admins."
        )
    return None


def request_blocks(request: UseCaseRequest, outcome: str | None = None) -> bk.Message:
    """An admin's copy of a request: with buttons while pending, with the outcome after."""
    how_long = _lasting(request.duration) if request.duration else " until revoked"
    summary = (
        f"*<@{request.requested_by}>* asks to enable *{request.use_case}* in "
        f"<#{request.channel_id}>{_for(request.audience)}{how_long}.\n"
        f"*Purpose:* {escape(request.purpose)}"
    )
    parts = [bk.header("AI use-case request"), bk.section(summary)]
    if outcome is None:
        buttons = [bk.button("Approve", APPROVE_ACTION, request.id, style="primary")]
        if request.duration != ADMIN_CHOICE:  # a set end, whatever was asked
            choice = f"{request.id}|{format_duration(ADMIN_CHOICE)}"
            label = f"Approve for {request_text.shown(ADMIN_CHOICE)}"
            buttons.append(bk.button(label, APPROVE_FOR_ACTION, choice))
        buttons.append(bk.button("Reject", REJECT_ACTION, request.id, style="danger"))
        parts.append(bk.actions(*buttons, block_id=f"ucr:{request.id}"))
        parts.append(bk.context(f"Request `{request.id}` · any admin may decide"))
    else:
        parts.append(bk.context(outcome))
    text = f"AI use-case request: {request.use_case} in {request.channel_id}"
    return bk.message(text, parts)


async def _ask_admins(services: Services, request: UseCaseRequest) -> list[tuple[str, str]]:
    msg = request_blocks(request)
    sent: list[tuple[str, str]] = []
    for admin in services.policy.admins:
        try:
            posted = await services.slack.post_message(
                await services.slack.open_dm(admin), msg.text, msg.blocks
            )
        except SlackError as exc:  # one unreachable admin must not stop the others hearing
            log.warning("could not DM an admin", extra={"admin": admin, "code": exc.code})
            continue
        sent.append((str(posted.get("channel", "")), str(posted.get("ts", ""))))
    return sent


# ---------------------------------------------------------------------------------------------
# Deciding
# ---------------------------------------------------------------------------------------------


async def run_decision(services: Services, click: UseCaseDecision) -> None:
    reply_to = ReplyTo.of(click)
    request = await load_request(services, click.request_id)
    if request is None:
        await services.slack.tell(reply_to, "That use-case request no longer exists.")
        return
    verb = "approve" if click.verdict == "approved" else "reject"
    if not await require_role(
        services,
        reply_to,
        click.team_id,
        f"/steward request {verb}",
        "decide use-case requests",
        action="requests.decide",
        channel_id=request.channel_id,
        use_case=request.use_case,
    ):
        return
    if click.verdict == "approved" and not resolution.grantable(
        services.policy, request.use_case, request.channel_id
    ):
        await services.slack.tell(
            reply_to,
            f"*{request.use_case}* can no longer be granted in <#{request.channel_id}>: the "
            "policy changed since the request (it is now on there, denied, or not listed).",
        )
        return
    mine = f"{click.verdict}|{click.user_id}"
    marker = keys.use_case_request_decision(request.id)
    won = await services.redis.set(marker, mine, nx=True, ex=REQUEST_TTL)
    decided = None if won else await _get(services, marker)
    if decided is not None and decided != mine:
        verdict, _, by = decided.partition("|")
        await services.slack.tell(reply_to, f"That request was already {verdict} by <@{by}>.")
        return
    # Won the decision (or a retry of this same decision): every step below is idempotent.
    if click.verdict == "approved":
        chosen = parse_duration(click.grant_for) if click.grant_for else request.duration
        await _grant(services, request, click.user_id, chosen)
    else:
        await _reject(services, request, click.user_id)


async def _grant(
    services: Services, request: UseCaseRequest, admin: str, duration: timedelta | None
) -> None:
    # time.time(), not datetime.now(): the clock the timer poller is tested against reads it too.
    ends = None if duration is None else datetime.fromtimestamp(time.time(), UTC) + duration
    grant = await GrantStore(services.redis).add(
        request_id=request.id,
        use_case=request.use_case,
        channel_id=request.channel_id,
        granted_by=admin,
        requested_by=request.requested_by,
        purpose=request.purpose,
        audience=request.audience,
        expires_at=ends,
    )
    await grant_expiry.schedule(services, grant, request.team_id)
    until = f" until {ends.strftime('%Y-%m-%d %H:%M UTC')}" if ends else ""
    await _decided(
        services,
        request,
        admin,
        "approved",
        f":white_check_mark: <@{admin}> approved your request: *{request.use_case}* is now on "
        f"in <#{request.channel_id}>{_for(request.audience)}{until}.",
        grant,
    )


async def _reject(services: Services, request: UseCaseRequest, admin: str) -> None:
    await _decided(
        services,
        request,
        admin,
        "rejected",
        f":x: <@{admin}> did not approve your request for *{request.use_case}* in "
        f"<#{request.channel_id}>.",
    )


async def _decided(
    services: Services,
    request: UseCaseRequest,
    admin: str,
    status: Verdict,
    told: str,
    grant: StoredGrant | None = None,
) -> None:
    """Close the request, audit the decision, update the admins' copies, tell the requester."""
    approved = status == "approved"
    await _close(services, request, status, admin)
    await services.audit.record(
        interaction_id=request.id,
        event="use_case_granted" if approved else "rejected",
        actor_id=request.requested_by,
        team_id=request.team_id,
        channel_id=request.channel_id,
        use_case=request.use_case,
        approval_status=status,
        approver_id=admin,
        rule=f"granted request {request.id}" if approved else None,
        extra=_grant_extra(grant),
    )
    ends = grant.expires_at if grant is not None else None
    outcome = (
        f":white_check_mark: Approved by <@{admin}>"
        + (f", until {ends.strftime('%Y-%m-%d %H:%M UTC')}." if ends else ".")
        if approved
        else f":x: Rejected by <@{admin}>."
    )
    await _update_admins(services, request, outcome)
    await services.slack.tell(ReplyTo.dm(request.requested_by), told)


def _grant_extra(grant: StoredGrant | None) -> dict[str, str | None] | None:
    if grant is None:
        return None
    ends = grant.expires_at.isoformat() if grant.expires_at else None
    return {"audience": grant.audience, "expires_at": ends}


async def _close(services: Services, request: UseCaseRequest, verdict: Verdict, by: str) -> None:
    request.status, request.decided_by = verdict, by
    await _save(services, request)
    pending = keys.open_use_case_request(request.use_case, request.channel_id, request.audience)
    if await _get(services, pending) == request.id:
        await services.redis.delete(pending)


async def _update_admins(services: Services, request: UseCaseRequest, outcome: str) -> None:
    msg = request_blocks(request, outcome)
    for channel, ts in request.admin_messages:
        try:
            await services.slack.update(channel, ts, msg.text, msg.blocks)
        except SlackError as exc:  # the decision stands even if one copy cannot be updated
            log.warning("could not update an admin's copy", extra={"code": exc.code})


# ---------------------------------------------------------------------------------------------
# Revoking
# ---------------------------------------------------------------------------------------------


async def run_revoke(services: Services, click: GrantRevoke) -> None:
    reply_to = ReplyTo.of(click)
    if not await require_role(
        services,
        reply_to,
        click.team_id,
        "/steward policy revoke",
        "revoke a grant",
        action="grants.revoke",
        channel_id=click.grant_channel_id,
        use_case=click.use_case,
    ):
        return
    grant = await GrantStore(services.redis).revoke(
        click.use_case, click.grant_channel_id, click.audience
    )
    if grant is not None:
        await grant_expiry.cancel(services, grant)
    if grant is None:
        await services.slack.tell(
            reply_to, f"*{click.use_case}* has no grant in <#{click.grant_channel_id}> any more."
        )
        return
    await services.audit.record(
        interaction_id=grant.id,
        event="policy_changed",
        actor_id=click.user_id,
        team_id=click.team_id,
        reason=f"grant revoked: {click.use_case} in {click.grant_channel_id}",
        rule=f"granted request {grant.id}",
        extra={"source": "grant", "action": "revoked", "granted_by": grant.granted_by},
        channel_id=click.grant_channel_id,
        use_case=click.use_case,
    )
    await services.slack.tell(
        reply_to,
        f":wastebasket: Revoked: *{click.use_case}* is no longer granted in "
        f"<#{click.grant_channel_id}>{_for(click.audience)}.",
    )
    await services.slack.tell(
        ReplyTo.dm(grant.requested_by),
        f"<@{click.user_id}> revoked *{click.use_case}* in <#{click.grant_channel_id}> "
        "(it had been enabled at your request).",
    )
