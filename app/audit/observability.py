"""Metrics and one structured log line per audit event, derived in ONE place.

The audit log calls `observe` after each successful append, so Prometheus counters and the JSON
logs always agree with the record, and no use case has to remember to count itself. The log line
carries ids, kinds, counts and timings only: never output text, reasons (an approver's free text)
or anything else a person typed.
"""

from __future__ import annotations

import logging

from app.audit.event import AuditEvent
from app.audit.sources import read_count
from app.runtime import metrics

log = logging.getLogger("steward.audit")

APPROVAL_OUTCOMES = {"approval_requested", "approved", "rejected", "escalated", "expired"}
FEEDBACK_VERDICTS = {"up", "down"}


def observe(event: AuditEvent) -> None:
    """Count and log one appended event. Never raises: the event is already recorded."""
    try:
        _count(event)
        _log(event)
    except Exception:  # a metrics bug must not turn a recorded interaction into a failure
        log.exception("audit observation failed", extra={"audit_event_id": event.id})


def _count(event: AuditEvent) -> None:
    use_case = event.use_case or "none"
    metrics.AUDIT_EVENTS.labels(use_case=use_case, event=event.event).inc()
    if event.latency_ms is not None and event.event == "generated":
        metrics.INTERACTION_SECONDS.labels(use_case=use_case).observe(event.latency_ms / 1000)
    model = event.model or ("offline" if event.engine == "offline" else "unknown")
    if event.tokens_in:
        metrics.TOKENS.labels(use_case=use_case, model=model, direction="in").inc(event.tokens_in)
    if event.tokens_out:
        metrics.TOKENS.labels(use_case=use_case, model=model, direction="out").inc(event.tokens_out)
    if event.event in APPROVAL_OUTCOMES:
        outcome = "requested" if event.event == "approval_requested" else event.event
        metrics.APPROVALS.labels(use_case=use_case, outcome=outcome).inc()
    for kind, count in event.redactions.items():
        if count > 0:
            metrics.REDACTIONS.labels(kind=kind).inc(count)
    if event.event == "feedback" and event.reason in FEEDBACK_VERDICTS:
        metrics.FEEDBACK.labels(verdict=event.reason).inc()


def _log(event: AuditEvent) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    fields = {
        "audit_event_id": event.id,
        "interaction_id": event.interaction_id,
        "event": event.event,
        "use_case": event.use_case,
        "actor_id": event.actor_id,
        "team_id": event.team_id,
        "channel_id": event.channel_id,
        "outcome": event.approval_status or event.event,
        "engine": event.engine,
        "model": event.model,
        "latency_ms": event.latency_ms,
        "tokens_in": event.tokens_in,
        "tokens_out": event.tokens_out,
        "confidence": event.confidence,
        "sources": read_count(event) or None,
        "redactions": sum(event.redactions.values()) or None,
    }
    log.info("audit event", extra={k: v for k, v in fields.items() if v is not None})
