"""The App Home tab: your recent requests, what awaits your approval, and (for admins and
auditors: `usage.read` in app/governance/roles.py) usage.

Everything shown is read back from the audit trail: the user index for "your requests", the
awaiting-approver index for "awaiting you" (checked against each interaction's current state),
and one streamed pass over the last 30 days for the admin dashboard.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import BaseModel
from slack_sdk.models.blocks import Block, MarkdownTextObject, SectionBlock

from app import help as help_
from app.audit.admin_view import interaction_block, when
from app.audit.event import AuditEvent, approvers_named
from app.audit.integrity_view import BLOCKS as INTEGRITY_BLOCKS
from app.audit.integrity_view import integrity_blocks
from app.audit.log import AuditLog
from app.audit.outbound_view import outbound_blocks
from app.audit.pricing import PricesError, load_prices
from app.audit.query import AuditFilters
from app.audit.state import InteractionState
from app.audit.usage import usage_reports
from app.audit.usage_view import DASHBOARD_BLOCKS, dashboard_blocks
from app.evaluation.home_view import BLOCKS as EVAL_BLOCKS
from app.evaluation.home_view import eval_blocks
from app.governance import roles
from app.runtime.services import Services
from app.slack import blocks as bk
from app.slack.mrkdwn import escape

log = logging.getLogger(__name__)

RECENT = 8  # your requests shown
AWAITING = 10  # approvals awaiting you shown
SCAN = 500  # of your newest events read to find them
OPEN = {"pending", "escalated"}
WINDOWS = (7, 30)
# The most blocks the tab can hold: intro, awaiting, recent, admin dashboards. Slack allows 100.
MAX_BLOCKS = (
    3
    + (2 + AWAITING)
    + (2 + RECENT)
    + 2
    + len(WINDOWS) * DASHBOARD_BLOCKS
    + INTEGRITY_BLOCKS
    + EVAL_BLOCKS
)


class HomeRequest(BaseModel):
    """Publish someone's App Home tab."""

    team_id: str
    user_id: str


@dataclass(frozen=True)
class Awaiting:
    state: InteractionState
    request: AuditEvent  # the latest approval_requested/escalated, which names this approver
    review_in: str | None = None  # the channel holding the approval request, when recorded


async def my_recent(audit: AuditLog, user_id: str, limit: int = RECENT) -> list[InteractionState]:
    """The interactions `user_id` started, newest first (through the audit user index)."""
    found: list[InteractionState] = []
    seen: set[str] = set()
    scanned = 0
    async for event in audit.iter_recent(AuditFilters(user=user_id), batch=100):
        scanned += 1
        if scanned > SCAN or len(found) >= limit:
            break
        if event.interaction_id in seen:
            continue
        seen.add(event.interaction_id)
        state = await audit.state(event.interaction_id)
        if state is not None and state.use_case and state.actor_id == user_id:
            found.append(state)
    return found


async def awaiting_approval(audit: AuditLog, user_id: str, limit: int = AWAITING) -> list[Awaiting]:
    """Interactions still pending/escalated whose latest approval request names `user_id`.

    The latest request is the newest `approval_requested` or `escalated` event naming
    approvers: after an escalation only the new approvers are waited on.
    """
    found: list[Awaiting] = []
    settled: list[str] = []
    for iid in await audit.awaiting(user_id, limit=limit * 5):
        state = await audit.state(iid)
        if state is None or state.approval_status not in OPEN:
            settled.append(iid)  # decided, expired or archived: drop it from the hint index
            continue
        requests = [e for e in await audit.events_for(iid) if approvers_named(e)]
        if not requests or user_id not in approvers_named(requests[-1]):
            settled.append(iid)  # escalated past this person
            continue
        if len(found) < limit:
            channels = [e.extra.get("approval_channel") for e in requests]
            review_in = next((c for c in reversed(channels) if isinstance(c, str) and c), None)
            found.append(Awaiting(state, requests[-1], review_in))
    await audit.forget_awaiting(user_id, settled)
    return found


def _awaiting_block(item: Awaiting) -> Block:
    state, request = item.state, item.request
    where = f" in <#{state.channel_id}>" if state.channel_id else ""
    step = request.extra.get("step")  # 0 for the first approver group, 1 after escalation…
    lines = [
        f"*{state.use_case or 'request'}* from <@{state.actor_id}>{where}",
        f"{(state.approval_status or 'pending').replace('_', ' ')}"
        + (f" · step {step + 1}" if isinstance(step, int) else "")
        + f" · asked {when(request.at)}",
    ]
    link = request.extra.get("permalink")
    if isinstance(link, str) and link.startswith("https://"):
        lines.append(f"<{link}|Open the approval request>")
    elif item.review_in:
        lines.append(f"Approve or reject it in <#{item.review_in}>.")
    return SectionBlock(text=MarkdownTextObject(text="\n".join(lines)))


def _intro(engine: str) -> list[Block]:
    return [
        bk.header("Steward — governed AI for this workspace"),
        bk.section(
            "Ask for a *summary* of a thread or channel, or a *draft* of a message. "
            "Drafts to sensitive channels are approved by a named person before they post; "
            "every AI interaction is logged for review."
        ),
        bk.context(
            " · ".join(f"`{usage.split(' ')[0]}`" for usage, _ in help_.COMMANDS[:3])
            + f" · Engine: {help_.engine_label(engine)}"
        ),
    ]


def _personal(mine: list[InteractionState], awaiting: list[Awaiting]) -> list[Block]:
    blocks: list[Block] = []
    if awaiting:
        blocks += [bk.divider(), bk.header(f"Awaiting your approval ({len(awaiting)})")]
        blocks += [_awaiting_block(item) for item in awaiting]
    blocks += [bk.divider(), bk.header("Your recent requests")]
    if mine:
        blocks += [interaction_block(state, show_actor=False) for state in mine]
    else:
        blocks.append(
            bk.section("Nothing yet. Try `/summarize` in a channel, or `/draft` a message.")
        )
    return blocks


async def _dashboard(services: Services) -> list[Block]:
    try:
        prices = load_prices(services.settings.steward_data_dir)
    except PricesError as exc:
        return [bk.divider(), bk.section(f":warning: Usage unavailable: {escape(str(exc))}")]
    reports = await usage_reports(services.audit, WINDOWS, prices)
    blocks: list[Block] = [bk.divider()]
    for report in reports:
        blocks += dashboard_blocks(report, f"Admin · usage, last {report.days} days")
    return (
        blocks
        + await integrity_blocks(services)
        + await outbound_blocks(services)
        + await eval_blocks(services)
    )


async def home_blocks(services: Services, user_id: str) -> list[Block]:
    blocks = _intro(services.engine)
    blocks += _personal(
        await my_recent(services.audit, user_id),
        await awaiting_approval(services.audit, user_id),
    )
    if roles.may(services.policy, user_id, "usage.read"):
        blocks += await _dashboard(services)
    return blocks


async def run_home(services: Services, req: HomeRequest) -> None:
    blocks = await home_blocks(services, req.user_id)
    await services.slack.publish_home(req.user_id, bk.home_view(blocks))
