"""The names the drafts package gives things in Redis, built here and nowhere else.

A draft is one hash; its approval deadlines are members of the shared timer set
(`app/runtime/timers.py`), named after the draft so a decision can cancel them.
"""

from __future__ import annotations


def draft(interaction_id: str) -> str:
    """The hash holding a draft's record, text, status and approval progress."""
    return f"steward:draft:{interaction_id}"


def refusal_throttle(interaction_id: str, user_id: str, why: str) -> str:
    """Set by the first refused click of `user_id` on this draft for `why`; holds the repeats
    within the window (approvals.py)."""
    return f"steward:draft:{interaction_id}:refused:{user_id}:{why}"


def escalation_timer(interaction_id: str, step: int) -> str:
    """The timer that hands a pending draft to approval step `step` (1-based past the first)."""
    return f"{interaction_id}:escalate:{step}"


def expiry_timer(interaction_id: str) -> str:
    return f"{interaction_id}:expire"


def approval_timers(interaction_id: str, steps: int) -> list[str]:
    """Every timer a request with `steps` approval steps may have scheduled."""
    return [escalation_timer(interaction_id, n) for n in range(1, steps)] + [
        expiry_timer(interaction_id)
    ]


def post_retry_timer(interaction_id: str, failures: int) -> str:
    """The timer that tries again to post a draft after its `failures`-th failed attempt. One id
    per attempt: a timer's job id is its timer id, and the queue runs a job id only once."""
    return f"{interaction_id}:post_retry:{failures}"


def post_retry_timers(interaction_id: str, failures: int) -> list[str]:
    """Every retry timer a draft with `failures` failed attempts may have scheduled."""
    return [post_retry_timer(interaction_id, n) for n in range(1, failures + 1)]
