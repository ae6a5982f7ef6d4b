"""The admin App Home's line on the log's copies and holds: each configured sink's lag (events it
has yet to take) and the legal holds in force. Nothing when there are neither."""

from __future__ import annotations

from slack_sdk.models.blocks import Block

from app.audit.hold import active_holds
from app.audit.sinks import configured_names, sink_lag
from app.runtime.services import Services
from app.slack import blocks as bk
from app.slack.mrkdwn import escape


async def outbound_blocks(services: Services) -> list[Block]:
    audit = services.audit
    parts = []
    for name in configured_names(services.settings):
        lag = await sink_lag(services.redis, audit.keys, name)
        state = "up to date" if lag == 0 else f"{lag:,} events behind"
        parts.append(f"{name} {state}")
    holds = await active_holds(services.redis, audit.keys)
    if not parts and not holds:
        return []
    lines = []
    if parts:
        lines.append("*Audit sinks:* " + escape(" · ".join(parts)))
    if holds:
        named = ", ".join(f"{h.kind} {h.target}" for h in holds[:5])
        more = f" and {len(holds) - 5} more" if len(holds) > 5 else ""
        lines.append(f"*Legal holds in force:* {len(holds)} ({escape(named)}{more})")
    return [bk.section("\n".join(lines))]
