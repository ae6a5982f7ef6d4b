"""What the Why? modal shows: a `Trace` read from an interaction's audit events, and its view.

The trace is a view of the audit trail, not a second record: what the modal shows is exactly
what an admin would find in an export.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict
from slack_sdk.models.blocks import Block, PlainTextObject
from slack_sdk.models.views import View

from app.audit.event import AuditEvent
from app.audit.sources import sources_read
from app.slack import blocks as bk
from app.slack.mrkdwn import escape

NONE = "—"


class Trace(BaseModel):
    """One interaction's trace, each field a line of the modal (`—` when unknown)."""

    model_config = ConfigDict(frozen=True)

    interaction_id: str = "?"
    events: str = NONE
    approval: str = NONE
    rule: str = NONE
    sources: str = NONE
    engine: str = NONE
    prompt_version: str = NONE
    redactions: str = "none"
    confidence: str = NONE
    tokens: str = NONE
    latency: str = NONE


def _generated(events: Sequence[AuditEvent]) -> AuditEvent | None:
    return next((e for e in reversed(events) if e.event == "generated"), None)


def _confidence(event: AuditEvent) -> str:
    detail = event.extra.get("confidence") or {}
    if event.confidence is None:
        return NONE
    parts = [f"{detail.get('label', '')} ({event.confidence:.2f})".strip()]
    if "grounding" in detail:
        parts.append(f"grounding {detail['grounding']:.2f}")
    if "citation_validity" in detail:
        parts.append(f"valid citations {detail['citation_validity']:.2f}")
    if detail.get("logprob_score") is not None:
        parts.append(f"token probability {detail['logprob_score']:.2f}")
    elif detail.get("basis"):
        parts.append(str(detail["basis"]))  # e.g. a reasoning model: grounding only, and why
    return " · ".join(parts)


def _sources(event: AuditEvent) -> str:
    """The messages read (span or count) and, for a long read, the ones the output cites."""
    described = sources_read(event)
    count = described.count if described else len(event.sources)
    text = str(event.extra.get("span") or f"{count} messages")
    if described is None:
        return text
    lines = [text]
    if event.sources:  # a draft cites nothing: its long context is described only
        lines.append("Cited: " + ", ".join(f"`{ts}`" for ts in event.sources))
    lines.append(
        f"All {count:,} message timestamps: SHA-256 `{described.sha256[:16]}…` "
        f"(`{described.first}` to `{described.last}`)"
    )
    return "\n".join(lines)


def build_trace(events: Sequence[AuditEvent]) -> Trace:
    """What the Why? modal shows, from the interaction's events."""
    statuses = [e.approval_status for e in events if e.approval_status]
    approval = (statuses[-1] or NONE).replace("_", " ") if statuses else NONE
    approvers = [e.approver_id for e in events if e.approver_id]
    if approvers:
        approval += f" (by <@{approvers[-1]}>)"
    rules = [e.rule for e in events if e.rule]
    trace = Trace(
        interaction_id=events[0].interaction_id if events else "?",
        events=" → ".join(e.event for e in events) or NONE,
        approval=approval,
        rule=escape(rules[-1]) if rules else NONE,  # policy text, shown as written
    )
    generated = _generated(events)
    if generated is None:
        return trace
    calls = generated.extra.get("model_calls", 0)
    cached = generated.extra.get("cached_chunks", 0)
    redactions = ", ".join(f"{k}: {v}" for k, v in sorted(generated.redactions.items()))
    return trace.model_copy(
        update={
            "sources": _sources(generated),
            "engine": f"{generated.engine} · {generated.model}",
            "prompt_version": generated.prompt_version or NONE,
            "redactions": redactions or "none",
            "confidence": _confidence(generated),
            "tokens": (
                f"{generated.tokens_in or 0} in / {generated.tokens_out or 0} out · "
                f"{calls} model call(s), {cached} cached chunk(s)"
            ),
            "latency": f"{(generated.latency_ms or 0) / 1000:.2f} s",
        }
    )


EVIDENCE_ACTION = "why_evidence"  # app.audit.evidence_export handles it


def why_modal(trace: Trace, *, evidence: bool = False) -> dict[str, Any]:
    """The trace of one interaction, as a modal view; with `evidence` (an admin's), the
    **Export evidence** button."""
    rows = [
        ("Sources read", trace.sources),
        ("Engine and model", trace.engine),
        ("Prompt version", trace.prompt_version),
        ("Redactions", trace.redactions),
        ("Policy rule", trace.rule),
        ("Confidence", trace.confidence),
        ("Tokens", trace.tokens),
        ("Latency", trace.latency),
        ("Approval", trace.approval),
        ("Audit events", trace.events),
    ]
    blocks: list[Block] = [bk.section(f"*{label}*\n{value}") for label, value in rows]
    blocks.append(bk.context(f"Interaction `{trace.interaction_id}`"))
    if evidence:
        blocks.append(
            bk.actions(bk.button("Export evidence", EVIDENCE_ACTION, trace.interaction_id))
        )
    view = View(
        type="modal",
        title=PlainTextObject(text="Why this answer?"),
        close=PlainTextObject(text="Close"),
        blocks=blocks,
    )
    view.validate_json()
    return view.to_dict()
