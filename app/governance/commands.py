"""`/steward policy`, `/steward pause [reason]` and `/steward resume`.

`policy` answers, for the channel it is typed in: which use cases are on (and by which rule),
who approves (group members resolved, user-group handles expanded), which model and redaction
apply, what is left of the caller's budgets, which use cases were granted here by request (with
a **Revoke** button for admins), and whether AI is paused.

`pause`/`resume` are for admins (the policy's `admins`, checked when the job runs by
app/governance/admins.py); anyone else is refused and a `refused` event written. The switch
itself is app/governance/pause.py: one Redis key read before every AI call (governance/gate.py),
so a pause from any process stops the next call in every process; calls already running finish.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from app.governance import gate as governance
from app.governance import policy_schema as policy_
from app.governance import resolution, roles
from app.governance.admins import require_role
from app.governance.approvers import handle_members
from app.governance.budget import Budget, LimitName, Usage
from app.governance.durations import format_duration
from app.governance.grant_expiry import who_for
from app.governance.grants import GrantStore, StoredGrant
from app.governance.requests import REVOKE_ACTION
from app.runtime.services import Services
from app.slack import blocks as bk
from app.slack.mrkdwn import escape
from app.slack.reply import ReplyTo
from app.steward_command import StewardCommand

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# pause / resume
# ---------------------------------------------------------------------------------------------


async def run_pause(services: Services, reply_to: ReplyTo, cmd: StewardCommand) -> None:
    if not await require_role(
        services, reply_to, cmd.team_id, cmd.name, "pause AI", action="pause"
    ):
        return
    reason = cmd.text.strip()[:500]
    state = await services.pause.pause(cmd.user_id, reason)
    await services.audit.record(
        interaction_id=f"pause_{uuid.uuid4().hex[:16]}",
        event="paused",
        actor_id=cmd.user_id,
        team_id=cmd.team_id,
        channel_id=cmd.channel_id,
        reason=reason or None,
        extra={"at": state.at.isoformat()},
    )
    log.info("AI paused", extra={"by": cmd.user_id})
    await services.slack.tell(
        reply_to,
        ":double_vertical_bar: AI is paused for everyone"
        + (f" ({escape(reason)})" if reason else "")
        + ". New AI requests are refused until an admin runs `/steward resume`; requests "
        "already running finish.",
    )


async def run_resume(services: Services, reply_to: ReplyTo, cmd: StewardCommand) -> None:
    if not await require_role(
        services, reply_to, cmd.team_id, cmd.name, "resume AI", action="pause"
    ):
        return
    ended = await services.pause.resume(cmd.user_id)
    if ended is None:
        await services.slack.tell(reply_to, "AI was not paused; nothing to resume.")
        return
    await services.audit.record(
        interaction_id=f"resume_{uuid.uuid4().hex[:16]}",
        event="resumed",
        actor_id=cmd.user_id,
        team_id=cmd.team_id,
        channel_id=cmd.channel_id,
        extra={"paused_by": ended.by, "paused_at": ended.at.isoformat()},
    )
    log.info("AI resumed", extra={"by": cmd.user_id})
    await services.slack.tell(reply_to, ":arrow_forward: AI is running again.")


# ---------------------------------------------------------------------------------------------
# policy
# ---------------------------------------------------------------------------------------------


async def run_policy(services: Services, reply_to: ReplyTo, cmd: StewardCommand) -> None:
    if not cmd.channel_id:
        await services.slack.tell(
            reply_to, "Run `/steward policy` in a channel to see its AI policy."
        )
        return
    msg = await policy_view(services, cmd.user_id, cmd.team_id, cmd.channel_id)
    await services.slack.tell(reply_to, msg.text, msg.blocks)


async def policy_view(services: Services, user_id: str, team_id: str, channel: str) -> bk.Message:
    policy = services.policy  # one snapshot for the whole view, even if a reload lands meanwhile
    parts: list[Any] = [bk.header("AI policy for this channel")]
    paused = await services.pause.state()
    if paused is not None:
        why = f": {escape(paused.reason)}" if paused.reason else ""
        parts.append(bk.section(f":double_vertical_bar: *AI is paused by <@{paused.by}>*{why}"))
    lines: list[str] = []
    budgets: dict[Budget, list[str]] = {}
    for name in sorted(policy.use_cases):
        decision = await governance.decide(services, user_id, name, channel)
        lines.append(await _use_case_line(services, policy, decision))
        if decision.allowed:
            budgets.setdefault(decision.budget, []).append(name)
    if not lines:
        lines.append("No AI use cases are enabled in this workspace's policy.")
    parts += bk.sections("\n".join(lines))
    parts += [bk.divider(), *bk.sections(await _budget_text(services, team_id, user_id, budgets))]
    parts += _grant_blocks(await GrantStore(services.redis).for_channel(channel), policy, user_id)
    admins = ", ".join(f"<@{a}>" for a in policy.admins) or "none named"
    short = policy.source_hash[:12] or "—"
    role = roles.role_of(policy, user_id)
    parts.append(
        bk.context(
            f"You are *{ROLE_WORDS[role]}* · Policy `{policy.source_name}` · version `{short}` "
            f"· admins: {admins}"
        )
    )
    return bk.message(f"AI policy for <#{channel}>", parts)


async def _use_case_line(
    services: Services, policy: policy_.Policy, decision: resolution.Decision
) -> str:
    name = decision.use_case
    if not decision.allowed and _about_who(decision.rule):
        return f":no_entry: *{name}* — not for you (rule `{decision.rule}`)"
    if not decision.allowed:
        ask = (
            f" · ask for it: `/steward request {name} <purpose>`"
            if resolution.grantable(policy, name, decision.channel_id)
            else ""
        )
        return f":no_entry: *{name}* — off (rule `{decision.rule}`){ask}"
    model = governance.model_for(services, decision) if services.llm else "offline engine"
    who = f"you may: `{decision.audience_rule}`" if decision.audience_rule else "for everyone"
    details = [
        who,
        f"approval: {await _approval_text(services, policy, decision.approval)}",
        f"model: {model}",
        f"PII redaction: {'on' if decision.redact_pii else 'off'}",
    ]
    return f":white_check_mark: *{name}* — on (rule `{decision.rule}`)\n      " + " · ".join(
        details
    )


def _about_who(rule: str) -> bool:
    """Whether a refusal came from `users` / `deny_users` (a grant for the channel won't help)."""
    return rule.endswith((".users", ".deny_users")) or rule.startswith("users of ")


async def _approval_text(
    services: Services, policy: policy_.Policy, rule: policy_.ApprovalRule | None
) -> str:
    if rule is None:
        return "not required"
    first = rule.steps[0]
    text = f"{first.group} ({await members_text(services, policy, first.group)})"
    for step in rule.steps[1:]:
        who = await members_text(services, policy, step.group)
        text += f", then {step.group} ({who}) after {format_duration(step.after)}"
    text += f"; expires after {format_duration(rule.expire_after)}"
    if rule.channel:
        text += f"; asked in <#{rule.channel}>"
    return text


async def members_text(services: Services, policy: policy_.Policy, group: str) -> str:
    """The people of an approver group, with user-group handles expanded when Slack allows."""
    members = resolution.approvers_for(policy, group)
    if not members:
        return "nobody: the group is empty"
    people = [f"<@{u}>" for u in members.user_ids]
    for handle in members.handles:
        expanded = await handle_members(services, handle)
        people += [f"<@{u}>" for u in expanded] if expanded else [f"`{handle}`"]
    return ", ".join(dict.fromkeys(people))


ROLE_WORDS: dict[roles.Role, str] = {
    "admin": "an admin (everything)",
    "auditor": "an auditor (read the audit, Why? on anything, export, usage)",
    "approver": "an approver (in a policy group)",
    "member": "a member",
}

_LIMIT_WORDS: dict[LimitName, str] = {
    "user_daily_tokens": "your tokens today",
    "team_daily_tokens": "team tokens today",
    "user_requests_per_minute": "your requests this minute",
}


async def _budget_text(
    services: Services, team_id: str, user_id: str, budgets: dict[Budget, list[str]]
) -> str:
    if not budgets:
        return "*Budget:* nothing is enabled here, so nothing is spent here."
    out: list[str] = []
    for budget, names in budgets.items():
        left = await services.budgets.remaining(team_id, user_id, budget)
        label = "*Budget left*" if len(budgets) == 1 else f"*Budget left ({', '.join(names)})*"
        out.append(f"{label}: " + " · ".join(_usage_text(k, u) for k, u in left.items()))
    return "\n".join(out)


def _usage_text(which: LimitName, usage: Usage) -> str:
    resets = usage.resets_at.strftime("%H:%M UTC")
    return f"{_LIMIT_WORDS[which]}: {usage.remaining:,} of {usage.limit:,} (resets {resets})"


def _grant_blocks(grants: list[StoredGrant], policy: policy_.Policy, user_id: str) -> list[Any]:
    if not grants:
        return []
    admin = roles.may(policy, user_id, "grants.revoke")
    parts: list[Any] = [bk.divider(), bk.section("*Granted here by request*")]
    for grant in grants:
        ends = grant.expires_at
        line = (
            f"*{grant.use_case}*{who_for(grant)} — granted by <@{grant.granted_by}> on "
            f"{grant.at.strftime('%Y-%m-%d')} at the request of <@{grant.requested_by}>"
            + (f", expires {ends.strftime('%Y-%m-%d %H:%M UTC')}" if ends else ", until revoked")
            + (f": _{escape(grant.purpose[:200])}_" if grant.purpose else "")
        )
        parts.append(bk.section(line))
        if admin:
            value = grant.field  # use case:channel[:audience]
            parts.append(bk.actions(bk.button("Revoke", REVOKE_ACTION, value, style="danger")))
    return parts
