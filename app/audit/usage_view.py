"""How a UsageReport looks: Block Kit for App Home and `/steward usage`, text for the CLI."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

import redis
import redis.asyncio as aioredis
from slack_sdk.models.blocks import Block, MarkdownTextObject, SectionBlock

from app.audit.log import AuditLog
from app.audit.pricing import PricesError, PriceTable, load_prices
from app.audit.usage import Count, UsageReport, usage_report
from app.slack import blocks as bk
from app.slack.mrkdwn import escape

BAR_WIDTH = 10
ROWS = 5  # rows per breakdown in Slack; the terminal shows all the report has
DASHBOARD_BLOCKS = 7  # the most blocks one window's dashboard uses (App Home budgets by it)


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """`█████░░░░░ 50%`: a bar chart made of text, readable in Slack and a terminal alike."""
    fraction = min(1.0, max(0.0, fraction))
    filled = round(fraction * width)
    return f"{'█' * filled}{'░' * (width - filled)} {round(fraction * 100)}%"


def human_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    total = round(seconds)
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def money(report: UsageReport) -> str:
    text = (
        f"${report.cost_usd:,.2f}" if report.cost_usd >= 0.01 or not report.cost_usd else "<$0.01"
    )
    if report.unpriced_tokens:
        text += f" (+{report.unpriced_tokens:,} unpriced tokens)"
    return text


def approval_line(report: UsageReport) -> str:
    if report.approval_rate is None:
        return "no decisions"
    decided = report.approved + report.rejected
    return f"`{bar(report.approval_rate)}` ({report.approved}/{decided})"


def _fields(report: UsageReport) -> Block:
    pairs = [
        ("Interactions", f"{report.interactions:,}"),
        ("Approval rate", approval_line(report)),
        ("Median time to decision", human_seconds(report.median_decision_seconds)),
        ("Pending approvals", f"{report.pending_approvals:,}"),
        ("Tokens", f"{report.tokens_in:,} in · {report.tokens_out:,} out"),
        ("Estimated cost", money(report)),
        ("Low-confidence outputs", f"{report.low_confidence:,} of {report.generated:,}"),
        ("Failures · refusals", f"{report.failures:,} · {report.refusals:,}"),
        ("Feedback", f"👍 {report.feedback_up:,} · 👎 {report.feedback_down:,}"),
        ("Redactions", f"{sum(report.redactions.values()):,}"),
    ]
    return SectionBlock(fields=[MarkdownTextObject(text=f"*{k}*\n{v}") for k, v in pairs])


def _breakdown(rows: Sequence[Count], total: int, label: str) -> str:
    lines = []
    for row in rows[:ROWS]:
        share = row.count / total if total else 0.0
        lines.append(f"`{bar(share)}` {label.format(row.key)} · {row.count:,}")
    return "\n".join(lines)


def _breakdowns(report: UsageReport) -> Block | None:
    parts = []
    if report.by_use_case:
        text = _breakdown(report.by_use_case, report.interactions, "*{}*")
        parts.append("*By use case*\n" + text)
    if report.by_channel:
        parts.append("*By channel*\n" + _breakdown(report.by_channel, report.interactions, "<#{}>"))
    if report.top_users:
        parts.append("*Top users*\n" + _breakdown(report.top_users, report.interactions, "<@{}>"))
    return bk.section("\n\n".join(parts)) if parts else None


def _rejections(report: UsageReport) -> Block | None:
    if not report.rejections:
        return None
    lines = [f"*Rejections* ({report.rejected:,})"]
    for item in report.rejections[:ROWS]:
        who = f"<@{item.approver_id}>" if item.approver_id else "someone"
        reason = escape((item.reason or "no reason given")[:200])
        lines.append(
            f"• {who} rejected a {item.use_case or 'request'} ({item.at[:10]}): _{reason}_"
        )
    return bk.section("\n".join(lines))


def _low_confidence(report: UsageReport) -> Block | None:
    if not report.low_confidence_outputs:
        return None
    lines = [f"*Low-confidence outputs* ({report.low_confidence:,})"]
    for item in report.low_confidence_outputs[:ROWS]:
        who = f"<@{item.actor_id}>" if item.actor_id else "someone"
        where = f" in <#{item.channel_id}>" if item.channel_id else ""
        lines.append(
            f"• {item.use_case or 'output'} for {who}{where}: {item.confidence:.2f} "
            f"({item.at[:10]}, `{item.interaction_id}`)"
        )
    return bk.section("\n".join(lines))


def _details(report: UsageReport) -> Block | None:
    parts = []
    if report.redactions:
        kinds = ", ".join(f"{kind} {count:,}" for kind, count in report.redactions.items())
        parts.append(f"*Redactions by type:* {kinds}")
    if report.models:
        rows = []
        for m in report.models[:ROWS]:
            cost = "unpriced" if m.cost_usd is None else f"${m.cost_usd:,.4f}"
            rows.append(f"{m.model} {m.tokens_in + m.tokens_out:,} tokens ({cost})")
        parts.append("*By model:* " + "; ".join(rows))
    problems = [*report.failures_by_reason[:3], *report.refusals_by_reason[:3]]
    if problems:
        parts.append(
            "*Failures and refusals:* " + ", ".join(f"{c.key} {c.count}" for c in problems)
        )
    return bk.section("\n".join(parts)) if parts else None


def dashboard_blocks(report: UsageReport, title: str | None = None) -> list[Block]:
    """One window's dashboard: at most DASHBOARD_BLOCKS blocks."""
    blocks: list[Block] = [bk.header(title or f"Usage — last {report.days} days"), _fields(report)]
    for optional in (
        _breakdowns(report),
        _rejections(report),
        _low_confidence(report),
        _details(report),
    ):
        if optional is not None:
            blocks.append(optional)
    blocks.append(
        bk.context(
            f"{report.events:,} audit events from {report.since[:16].replace('T', ' ')} UTC · "
            f"cost estimated from the {report.prices_source} price table (USD per 1M tokens)"
        )
    )
    return blocks


def usage_message(report: UsageReport) -> bk.Message:
    """The ephemeral answer to `/steward usage`."""
    text = (
        f"Usage, last {report.days} days: {report.interactions} interactions, "
        f"{report.tokens_in + report.tokens_out} tokens, {report.failures} failures"
    )
    return bk.message(text, dashboard_blocks(report))


def render_text(report: UsageReport) -> str:
    """The terminal report of `steward usage`."""
    out = [
        f"Steward usage — last {report.days} days ({report.since[:10]} to {report.until[:10]})",
        "",
        f"  interactions          {report.interactions:,}",
        f"  approval rate         {_plain_rate(report)}",
        f"  median to decision    {human_seconds(report.median_decision_seconds)}",
        f"  pending approvals     {report.pending_approvals:,}",
        f"  tokens                {report.tokens_in:,} in / {report.tokens_out:,} out",
        f"  estimated cost        {money(report)}  [prices: {report.prices_source}]",
        f"  low confidence        {report.low_confidence:,} of {report.generated:,} outputs",
        f"  failures / refusals   {report.failures:,} / {report.refusals:,}",
        f"  feedback              up {report.feedback_up:,} / down {report.feedback_down:,}",
    ]
    for title, rows in (
        ("by use case", report.by_use_case),
        ("by channel", report.by_channel),
        ("top users", report.top_users),
    ):
        if rows:
            out += ["", f"  {title}:"]
            width = max(len(r.key) for r in rows)
            for row in rows:
                share = row.count / report.interactions if report.interactions else 0.0
                out.append(f"    {row.key:<{width}}  {bar(share)}  {row.count:,}")
    if report.redactions:
        out += [
            "",
            "  redactions: " + ", ".join(f"{k} {v:,}" for k, v in report.redactions.items()),
        ]
    if report.models:
        out += ["", "  by model:"]
        for m in report.models:
            cost = "unpriced" if m.cost_usd is None else f"${m.cost_usd:,.4f}"
            out.append(f"    {m.model:<20} {m.tokens_in:>10,} in {m.tokens_out:>10,} out  {cost}")
    if report.rejections:
        out += ["", f"  rejections ({report.rejected:,}), newest first:"]
        for item in report.rejections:
            reason = (item.reason or "no reason given")[:120]
            out.append(f"    {item.at[:16]}  {item.approver_id or '?'}  {reason}")
    if report.low_confidence_outputs:
        out += ["", "  low-confidence outputs, newest first:"]
        for low in report.low_confidence_outputs:
            out.append(
                f"    {low.at[:16]}  {low.interaction_id}  {low.confidence:.2f}  {low.actor_id}"
            )
    for title, counts in (
        ("failures", report.failures_by_reason),
        ("refusals", report.refusals_by_reason),
    ):
        if counts:
            out += ["", f"  {title}: " + ", ".join(f"{c.key} {c.count}" for c in counts)]
    return "\n".join(out) + "\n"


def _plain_rate(report: UsageReport) -> str:
    if report.approval_rate is None:
        return "no decisions"
    return f"{bar(report.approval_rate)} ({report.approved}/{report.approved + report.rejected})"


def cli_usage(redis_url: str, days: int, data_dir: Path) -> int:
    """`steward usage [--days N]`: 0 with the report on stdout, 2 on a bad price file or Redis."""
    try:
        prices = load_prices(data_dir)
    except PricesError as exc:
        print(f"steward: {exc}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(_report(redis_url, days, prices))
    except redis.RedisError as exc:
        print(
            f"steward: cannot read the audit log from Redis ({type(exc).__name__}): "
            "check REDIS_URL",
            file=sys.stderr,
        )
        return 2
    sys.stdout.write(render_text(report))
    return 0


async def _report(redis_url: str, days: int, prices: PriceTable) -> UsageReport:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return await usage_report(AuditLog(client), days, prices)
    finally:
        await client.aclose()
