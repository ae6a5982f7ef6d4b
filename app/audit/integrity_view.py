"""The admin App Home's section on the log's integrity: the last checkpoint (its size, its age,
where it was published, and how many events it does not cover yet) and the last `verify` (when,
by what, intact or what was wrong). Read from `app.audit.integrity`'s copies and the tree's
size; nothing here is trusted as proof, it only says what was last seen."""

from __future__ import annotations

from datetime import UTC, datetime

from slack_sdk.models.blocks import Block

from app.audit.admin_view import when
from app.audit.integrity import (
    Place,
    PublishedCheckpoint,
    VerifyRecord,
    last_published,
    last_verify,
)
from app.audit.merkle_store import MerkleStore
from app.runtime.services import Services
from app.slack import blocks as bk
from app.slack.mrkdwn import escape

BLOCKS = 2  # header and one section
SHOWN_PROBLEMS = 3


async def integrity_blocks(services: Services, now: datetime | None = None) -> list[Block]:
    audit = services.audit
    checkpoint = await last_published(services.redis, audit.keys)
    verified = await last_verify(services.redis, audit.keys)
    size = await MerkleStore(services.redis, audit.keys).size()
    moment = now or datetime.now(UTC)
    lines = [checkpoint_line(checkpoint, size, moment), verify_line(verified, moment)]
    return [bk.header("Audit log integrity"), bk.section("\n".join(lines))]


def checkpoint_line(checkpoint: PublishedCheckpoint | None, size: int | None, now: datetime) -> str:
    if checkpoint is None:
        return (
            "*Last checkpoint:* none published yet · `steward audit checkpoint` signs one "
            "(worker processes sign one every STEWARD_AUDIT_CHECKPOINT_EVERY events)"
        )
    places = ", ".join(_place(p) for p in checkpoint.places) or "nowhere"
    line = (
        f"*Last checkpoint:* {checkpoint.size:,} events, signed {age(checkpoint.at, now)} "
        f"({when(checkpoint.at)}) · published to {places}"
    )
    if checkpoint.problems:
        line += " · :warning: not published to " + escape("; ".join(checkpoint.problems))
    if size is not None and size > checkpoint.size:
        line += f" · {size - checkpoint.size:,} newer events not yet covered"
    elif size is not None and size == checkpoint.size:
        line += " · covers every event"
    return line


def verify_line(record: VerifyRecord | None, now: datetime) -> str:
    if record is None:
        return "*Last verify:* never · run `steward audit verify`"
    against = f" against the checkpoint of {record.covered:,}" if record.covered else ""
    head = f"{age(record.at, now)} ({when(record.at)}) by {escape(record.by)}"
    if record.ok:
        return f"*Last verify:* intact · {record.checked:,} events{against} · {head}"
    problems = "\n".join(f"• {escape(p)}" for p in record.problems[:SHOWN_PROBLEMS])
    more = len(record.problems) - SHOWN_PROBLEMS
    if more > 0:
        problems += f"\n• and {more} more"
    return f"*Last verify:* :rotating_light: *not intact* · {head}\n{problems}"


def _place(place: Place) -> str:
    if place.kind == "slack":
        return f"<#{place.where}>"  # a channel id from the policy, validated there
    return f"{place.kind} `{escape(place.where)}`"


def age(at: str, now: datetime) -> str:
    """How long ago `at` was, roughly: `just now`, `5 min ago`, `3 h ago`, `2 days ago`."""
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return "at an unknown time"
    seconds = max(0.0, (now - moment).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"
