"""Every Redis key of the runtime package (the job queue and the timers), named in one place."""

from __future__ import annotations

from typing import Literal

# Two lanes, one stream each, read by the same consumer group name: model-heavy work (summaries,
# drafts, queued Slack requests) in the normal lane, clicks and modals in the interactive one,
# so an Approve never waits behind a backlog of long model jobs (app/runtime/queue.py).
Lane = Literal["normal", "interactive"]
LANES: tuple[Lane, ...] = ("interactive", "normal")  # the order a worker serves them in

STREAM = "steward:jobs"  # the normal lane's job stream, read by one consumer group
INTERACTIVE_STREAM = "steward:jobs:interactive"  # the interactive lane's
GROUP = "steward-workers"  # that consumer group (on each stream)
DEAD = "steward:jobs:dead"  # jobs of either lane that failed for good, with their error and lane
ATTEMPTS = "steward:jobs:attempts"  # normal stream entry id → starts so far
INTERACTIVE_ATTEMPTS = "steward:jobs:interactive:attempts"  # the same, interactive lane
TIMERS = "steward:timers"  # timer id → due time (a sorted set)
TIMER_JOBS = "steward:timers:jobs"  # timer id → the job it queues when due

STREAMS: dict[Lane, str] = {"normal": STREAM, "interactive": INTERACTIVE_STREAM}
LANE_ATTEMPTS: dict[Lane, str] = {"normal": ATTEMPTS, "interactive": INTERACTIVE_ATTEMPTS}


def dedupe(key: str) -> str:
    """Claimed by the first job for `key` (e.g. a Slack event id), so a retry is dropped."""
    return f"steward:dedupe:{key}"


def job_done(job_id: str) -> str:
    """Set when a job finished, before its XACK: a re-run after a crash in between skips it."""
    return f"steward:job:{job_id}:done"
