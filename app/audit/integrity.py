"""The log's integrity as the admin App Home shows it: the last checkpoint (where it went) and
the last `verify` (when, by what, and what it found).

Both are display copies in Redis (`{p}:audit:checkpoint:published`, `{p}:audit:verify:last`):
what a checkpoint proves lives where it was published, and a wiped Redis loses these copies
too, which the App Home then shows as "no checkpoint" and "never verified" — never as intact.

A verify is also recorded as an `audit_verified` event, so the signed log itself (and every
sink, hence the SIEM) holds each verdict, failures above all. Not on a store with no events:
appending there would begin a new chain, and a wiped store would next be reported as merely
truncated.
"""

from __future__ import annotations

import getpass
import socket
from typing import Literal, TypeVar, cast

import redis.asyncio as aioredis
from pydantic import BaseModel, ValidationError

from app.audit.checkpoint import Checkpoint
from app.audit.keys import AuditKeys
from app.audit.log import AuditLog
from app.audit.tree_check import TreeReport
from app.audit.verify import VerifyResult

MAX_PROBLEMS = 5  # kept per verify: the first ones name what is worst
PROBLEM_CHARS = 300
VERIFY_INTERACTION = "audit:verify"  # every verify's event belongs to this one interaction

M = TypeVar("M", bound=BaseModel)


class Place(BaseModel):
    """One place a checkpoint was published to."""

    kind: Literal["file", "slack", "s3"]
    where: str  # the file's path, the channel id, or s3://bucket/key
    ref: str | None = None  # the Slack message's ts, the S3 object's version id


class PublishedCheckpoint(BaseModel):
    size: int
    root: str
    at: str
    places: list[Place]
    problems: list[str] = []  # where it could not go, and why


class VerifyRecord(BaseModel):
    at: str
    by: str  # what ran it: the command, and the user and host it ran as
    ok: bool
    checked: int  # events whose chain links were checked
    covered: int | None = None  # the latest valid checkpoint's size it was checked against
    problems: list[str] = []  # "<kind>: <sentence>", worst first


def cli_runner() -> str:
    """`steward audit verify (user@host)`: who ran it, as far as the machine knows."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        user = "unknown"
    return f"steward audit verify ({user}@{socket.gethostname()})"


def verify_record(chain: VerifyResult, report: TreeReport, *, at: str, by: str) -> VerifyRecord:
    problems = [] if chain.ok else [chain.problem or f"chain: broken at event {chain.first_bad}"]
    problems += report.problems
    if chain.ok and chain.empty and report.latest is None and not problems:
        problems = ["empty: the store holds no audit events"]
    latest = report.latest
    return VerifyRecord(
        at=at,
        by=by,
        ok=not problems,
        checked=chain.checked,
        covered=latest.checkpoint.size if latest and latest.checkpoint else None,
        problems=[p[:PROBLEM_CHARS] for p in problems[:MAX_PROBLEMS]],
    )


async def save_verify(log: AuditLog, record: VerifyRecord, *, append_event: bool) -> None:
    await log.redis.set(log.keys.verify_last, record.model_dump_json())
    if append_event:
        await log.record(
            interaction_id=VERIFY_INTERACTION,
            event="audit_verified",
            reason=record.problems[0] if record.problems else None,
            extra={"verify": record.model_dump(mode="json", exclude={"at"})},
        )


async def save_published(
    redis: aioredis.Redis,
    keys: AuditKeys,
    checkpoint: Checkpoint,
    places: list[Place],
    problems: list[str],
) -> None:
    record = PublishedCheckpoint(
        size=checkpoint.size, root=checkpoint.root, at=checkpoint.at, places=places,
        problems=problems,
    )  # fmt: skip
    await redis.set(keys.checkpoint_published, record.model_dump_json())


async def last_verify(redis: aioredis.Redis, keys: AuditKeys) -> VerifyRecord | None:
    return _load(VerifyRecord, await redis.get(keys.verify_last))


async def last_published(redis: aioredis.Redis, keys: AuditKeys) -> PublishedCheckpoint | None:
    return _load(PublishedCheckpoint, await redis.get(keys.checkpoint_published))


def _load(model: type[M], raw: object) -> M | None:
    if raw is None:
        return None
    try:
        return model.model_validate_json(cast(str | bytes, raw))
    except ValidationError:  # written by another version, or by hand: show nothing
        return None
