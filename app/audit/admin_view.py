"""How interactions look in admin and App Home lists: one section per interaction, with Why?."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import Block, MarkdownTextObject, SectionBlock

from app.audit.state import InteractionState
from app.slack import blocks as bk

MESSAGE_ROOM = 45  # an ephemeral holds 50 blocks: header, context, actions and spare


def when(at: str | None) -> str:
    """A Slack date token (shown in the reader's time zone) with a UTC fallback."""
    if not at:
        return "—"
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return at
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def status_label(state: InteractionState) -> str:
    if state.event in ("refused", "failed"):
        return state.event
    return (state.approval_status or state.event).replace("_", " ")


def interaction_line(state: InteractionState, *, show_actor: bool = True) -> str:
    parts = [f"*{state.use_case or 'interaction'}*"]
    if show_actor and state.actor_id:
        parts.append(f"by <@{state.actor_id}>")
    if state.channel_id:
        parts.append(f"in <#{state.channel_id}>")
    line = " ".join(parts)
    details = [status_label(state)]
    if state.confidence is not None:
        details.append(f"confidence {state.confidence:.2f}")
    details.append(when(state.updated_at))
    return f"{line}\n{' · '.join(details)}"


def interaction_block(state: InteractionState, *, show_actor: bool = True) -> Block:
    """A section with the interaction's latest state and a **Why?** button (action `why`)."""
    return SectionBlock(
        text=MarkdownTextObject(text=interaction_line(state, show_actor=show_actor)),
        accessory=bk.button("Why?", "why", state.interaction_id),
    )


def audit_message(
    states: Sequence[InteractionState], description: str, export_value: str, more: bool
) -> bk.Message:
    """The ephemeral answer to `/steward audit`: newest first, each with Why?, then Export."""
    shown = list(states)[:MESSAGE_ROOM]
    blocks: list[Block] = [bk.header("Audit: AI interactions")]
    if not shown:
        blocks.append(bk.section(f"No interactions match {description}."))
    blocks += [interaction_block(state) for state in shown]
    footer = f"{len(shown)} interaction(s), newest first · {description}"
    if more:
        footer += " · more exist: narrow the filters, or Export them all"
    blocks.append(bk.context(footer))
    blocks.append(bk.actions(bk.button("Export", "audit_export", export_value, style="primary")))
    text = f"Audit: {len(shown)} interaction(s) matching {description}"
    return bk.message(text, blocks)
