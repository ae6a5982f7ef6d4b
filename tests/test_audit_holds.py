"""Legal holds: `steward audit hold|release`, holds as audit events, and retention that
archives a held event like any other but keeps it in Redis until the hold is released."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from app.audit.hold import HoldTargetError, parse_target
from app.audit.holds import Holds
from app.audit.log import AuditLog
from app.audit.query import AuditFilters
from tests.test_audit import _aged_log
from tests.test_audit_cli import steward


async def _ids(log: AuditLog, iid: str) -> list[int]:
    return [e.id for e in await log.events_for(iid)]


async def test_a_held_interaction_survives_retention_until_released(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    log, _ = await _aged_log(r)  # old1: ids 1, 2; old2: 3, 5; mixed: 4 (old) and 6
    holds = Holds(log)
    await holds.place("old1", "litigation hold, matter 2024-117", by="U0ADMIN")
    result = await log.archive_older_than(30, tmp_path / "a")
    assert (result.archived, result.held) == (5, 2)
    assert result.path is not None  # archived like any other: the file has all five
    assert [json.loads(x)["id"] for x in result.path.read_text().splitlines()] == [1, 2, 3, 4, 5]
    assert await _ids(log, "old1") == [1, 2]  # held: still in Redis after the trim
    assert await _ids(log, "old2") == []  # not held: gone from Redis
    assert await _ids(log, "mixed") == [6]
    assert (await log.verify()).ok  # the chain continues from the anchor as before
    held = await log.events_for("old1")
    stored = [json.loads(x) for x in result.path.read_text().splitlines()][:2]
    assert [e.hash for e in held] == [e["hash"] for e in stored]  # the very events

    placed = [e async for e in log.export(AuditFilters()) if e.event == "hold_placed"]
    assert len(placed) == 1
    assert placed[0].reason == "litigation hold, matter 2024-117"
    assert placed[0].actor_id == "U0ADMIN"
    assert placed[0].extra == {"hold": {"kind": "interaction", "target": "old1"}}
    assert placed[0].interaction_id == "hold:interaction:old1"

    await holds.release("old1", "matter closed", by="U0ADMIN")
    assert await holds.active() == []
    again = await log.archive_older_than(30, tmp_path / "b")
    assert again.archived == 0
    assert await _ids(log, "old1") == []  # released: retention has them now
    assert await r.exists("steward:audit:held:old1", "steward:audit:held:index") == 0
    released = [e async for e in log.export(AuditFilters()) if e.event == "hold_released"]
    assert [e.reason for e in released] == ["matter closed"]


async def test_user_and_channel_holds_cover_every_matching_event(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    log, _ = await _aged_log(r)  # every event by U1 in C1
    await log.record(interaction_id="other", event="generated", actor_id="U2")
    holds = Holds(log)
    await holds.place("@U1", "HR investigation")
    assert (await log.archive_older_than(30, tmp_path / "a")).held == 5
    assert await _ids(log, "old2") == [3, 5]
    await holds.release("@U1")
    await holds.place("#C1", "regulator request")
    assert (await log.archive_older_than(30, tmp_path / "b")).archived == 0
    assert await _ids(log, "old2") == [3, 5]  # the channel hold keeps what the user hold kept
    await holds.release("#C1")
    await log.archive_older_than(30, tmp_path / "c")
    assert await _ids(log, "old2") == []


def test_hold_targets_are_ids() -> None:
    assert parse_target("@U0ABC12") == ("user", "U0ABC12")
    assert parse_target("#C0ABC12") == ("channel", "C0ABC12")
    assert parse_target("3f2a-int") == ("interaction", "3f2a-int")
    for bad in ("@jane", "#launch", "", "two words"):
        with pytest.raises(HoldTargetError):
            parse_target(bad)


async def test_releasing_what_is_not_held_or_holding_without_a_reason_is_refused(
    r: aioredis.Redis,
) -> None:
    holds = Holds(AuditLog(r))
    with pytest.raises(HoldTargetError, match="no hold is in force"):
        await holds.release("old1")
    with pytest.raises(HoldTargetError, match="--reason"):
        await holds.place("old1", " ")
    assert await r.xlen("steward:audit") == 0  # neither left an event


def test_the_hold_commands(redis_url: str, redis_sync: object, tmp_path: Path) -> None:
    placed = steward(redis_url, tmp_path, "audit", "hold", "#C0LEGAL", "--reason", "matter 7")
    assert placed.returncode == 0, placed.stderr
    assert "hold placed: channel C0LEGAL" in placed.stdout
    listed = steward(redis_url, tmp_path, "audit", "hold", "--list")
    assert "channel C0LEGAL" in listed.stdout and "matter 7" in listed.stdout
    refused = steward(redis_url, tmp_path, "audit", "hold", "#launch", "--reason", "x")
    assert refused.returncode == 2 and "channel ID" in refused.stderr
    released = steward(redis_url, tmp_path, "audit", "release", "#C0LEGAL", "--reason", "done")
    assert released.returncode == 0 and "hold released" in released.stdout
    again = steward(redis_url, tmp_path, "audit", "release", "#C0LEGAL")
    assert again.returncode == 2 and "no hold is in force" in again.stderr
