"""Every Redis key of the runtime package (the job queue and the timers), named in one place."""

from __future__ import annotations

STREAM = "steward:jobs"  # the job stream, read by one consumer group
GROUP = "steward-workers"  # that consumer group
DEAD = "steward:jobs:dead"  # jobs that failed for good, with their error
ATTEMPTS = "steward:jobs:attempts"  # stream entry id → starts so far
TIMERS = "steward:timers"  # timer id → due time (a sorted set)
TIMER_JOBS = "steward:timers:jobs"  # timer id → the job it queues when due


def dedupe(key: str) -> str:
    """Claimed by the first job for `key` (e.g. a Slack event id), so a retry is dropped."""
    return f"steward:dedupe:{key}"


def job_done(job_id: str) -> str:
    """Set when a job finished, before its XACK: a re-run after a crash in between skips it."""
    return f"steward:job:{job_id}:done"
