"""Prometheus metrics, one registry per process, served at GET /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

SLACK_REQUESTS = Counter(
    "steward_slack_requests_total",
    "Requests received from Slack, by HTTP status returned.",
    ["status"],
    registry=REGISTRY,
)
BAD_SIGNATURES = Counter(
    "steward_bad_signatures_total",
    "Requests refused with 401: missing, wrong or stale Slack signature.",
    registry=REGISTRY,
)
REJECTED_REQUESTS = Counter(
    "steward_rejected_requests_total",
    "Requests refused at the gate before any work, by reason (too_large, timestamp, stale, "
    "signature, encoding, json, depth, shape, foreign_workspace...).",
    ["reason"],
    registry=REGISTRY,
)
_ANSWERED: dict[int, object] = {}  # SLACK_REQUESTS' child per status, looked up once


def slack_request_answered(status: int) -> None:
    """Count one answered Slack request (and a 401 as a bad signature). On every request's
    path, so each status's labelled child is resolved once, not per request."""
    child = _ANSWERED.get(status)
    if child is None:
        child = _ANSWERED[status] = SLACK_REQUESTS.labels(status=str(status))
    child.inc()  # type: ignore[attr-defined]
    if status == 401:
        BAD_SIGNATURES.inc()


SLOW_ACKS = Counter(
    "steward_slow_acks_total",
    "Requests answered before their work was queued, because Redis was too slow to wait for.",
    registry=REGISTRY,
)
ACK_SECONDS = Histogram(
    "steward_ack_seconds",
    "Time from receiving a Slack request to answering it.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 3.0),
    registry=REGISTRY,
)
JOBS_ENQUEUED = Counter(
    "steward_jobs_enqueued_total",
    "Jobs offered to the queue, by outcome (queued, duplicate, unavailable).",
    ["kind", "outcome"],
    registry=REGISTRY,
)
_ENQUEUED: dict[tuple[str, str], Counter] = {}  # JOBS_ENQUEUED's children, looked up once


def job_enqueued(kind: str, outcome: str) -> None:
    """Count one job offered to the queue. On every queued request's path, so each labelled
    child is resolved once, not per request."""
    child = _ENQUEUED.get((kind, outcome))
    if child is None:
        child = _ENQUEUED[(kind, outcome)] = JOBS_ENQUEUED.labels(kind=kind, outcome=outcome)
    child.inc()


JOBS_DONE = Counter(
    "steward_jobs_total",
    "Job runs, by outcome (ok, retry, dead).",
    ["kind", "outcome"],
    registry=REGISTRY,
)
JOB_SECONDS = Histogram(
    "steward_job_seconds",
    "Time a worker spent on one run of a job.",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
    registry=REGISTRY,
)
JOBS_RECLAIMED = Counter(
    "steward_jobs_reclaimed_total",
    "Jobs taken over from a worker that stopped sending heartbeats.",
    registry=REGISTRY,
)
JOBS_DEAD = Counter(
    "steward_jobs_dead_total", "Jobs moved to the dead-letter stream.", registry=REGISTRY
)
LIMITED = Counter(
    "steward_limited_total",
    "Requests refused by a limit before any work, by use case and limit "
    "(in_flight, user_requests_per_minute, user_daily_tokens, team_daily_tokens).",
    ["use_case", "limit"],
    registry=REGISTRY,
)
REFUSALS_THROTTLED = Counter(
    "steward_refusals_throttled_total",
    "Repeated refused clicks (same user, same interaction, within the window) that were "
    "counted but neither audited nor answered again.",
    ["kind"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "steward_queue_depth", "Jobs waiting or running, read at scrape time.", registry=REGISTRY
)

# Derived from audit events in one place (app/audit/observability.py), after each append.
AUDIT_EVENTS = Counter(
    "steward_audit_events_total",
    "Audit events appended, by use case and event (requested = one AI interaction).",
    ["use_case", "event"],
    registry=REGISTRY,
)
INTERACTION_SECONDS = Histogram(
    "steward_interaction_latency_seconds",
    "Time an AI interaction took to produce its output, from its audit event's latency.",
    ["use_case"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0),
    registry=REGISTRY,
)
TOKENS = Counter(
    "steward_tokens_total",
    "Model tokens used, by use case, model and direction (in, out).",
    ["use_case", "model", "direction"],
    registry=REGISTRY,
)
APPROVALS = Counter(
    "steward_approvals_total",
    "Approval steps by outcome (requested, approved, rejected, escalated, expired).",
    ["use_case", "outcome"],
    registry=REGISTRY,
)
REDACTIONS = Counter(
    "steward_redactions_total",
    "Items redacted before text left for the model, by type.",
    ["kind"],
    registry=REGISTRY,
)
FEEDBACK = Counter(
    "steward_feedback_total", "👍/👎 on AI outputs, by verdict.", ["verdict"], registry=REGISTRY
)

SINK_LAG = Gauge(
    "steward_audit_sink_lag_events",
    "Audit events a sink has not yet taken (app/audit/sinks.py), after each forwarding round.",
    ["sink"],
    registry=REGISTRY,
)


def render() -> bytes:
    return generate_latest(REGISTRY)
