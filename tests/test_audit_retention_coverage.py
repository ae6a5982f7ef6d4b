"""Retention that cannot lose evidence (issue 15): an event leaves Redis only once it is in an
archive file AND a published checkpoint, signed with the log's key and matching the stored
tree, covers it. Until then it is archived (once) and kept. Real Redis, the real retention job,
the real signer and checkpoint file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis.asyncio as aioredis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.audit.checkpoint import Checkpoint
from app.audit.checkpoints import Checkpointer
from app.audit.cli_attest import verify_published
from app.audit.coverage import covered_size
from app.audit.holds import Holds
from app.audit.log import AuditLog
from app.audit.retention import RetentionJob
from app.runtime.settings import load_settings
from tests.test_audit import Clock

STREAM = "steward:audit"
GATE = "steward:audit:retention:gate"


async def _ids(r: aioredis.Redis) -> list[int]:
    return [int(fields["id"]) for _, fields in await r.xrange(STREAM)]


async def test_uncovered_events_are_archived_but_kept_until_a_checkpoint_covers_them(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    settings = load_settings(steward_data_dir=tmp_path)
    signer = Checkpointer(r, settings)
    now = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)
    clock = Clock(now - timedelta(days=40))
    log = AuditLog(r, clock=clock)
    for k in range(3):
        await log.record(interaction_id=f"old{k}", event="generated", actor_id="U1")
    assert (await signer.publish_now()).checkpoint is not None  # covers events 1-3
    for k in range(3, 5):
        await log.record(interaction_id=f"old{k}", event="generated", actor_id="U1")
    clock.now = now - timedelta(days=1)
    for k in range(3):
        await log.record(interaction_id=f"new{k}", event="generated", actor_id="U1")
    clock.now = now
    archive = tmp_path / "archive"
    job = RetentionJob(log, r, lambda: 30, archive, checkpoints=settings)

    async def run() -> tuple[int, int, int]:
        await r.delete(GATE)
        result = await job.run_once()
        assert result is not None
        return result.archived, result.trimmed, result.uncovered

    # Events 1-5 are past retention; only 1-3 are covered: all five archived, three trimmed.
    assert await run() == (5, 3, 2)
    (file,) = archive.iterdir()
    assert [json.loads(x)["id"] for x in file.read_text().splitlines()] == [1, 2, 3, 4, 5]
    assert await _ids(r) == [4, 5, 6, 7, 8]
    assert (await r.hgetall("steward:audit:anchor"))["seq"] == "3"

    # A hold placed now, between the archive and the trim, still keeps its event in Redis.
    await Holds(log).place("old4", "placed after the archive was written")
    # A checkpoint of everything signed by another key vouches for nothing here.
    forged = Checkpoint.sign(
        Ed25519PrivateKey.generate(), log_id=signer.log_id, size=9, root=b"\x00" * 32, at="x"
    )
    signer.file.append(forged)
    assert await run() == (0, 0, 2)  # nothing new to archive, nothing trimmed
    assert await _ids(r) == [4, 5, 6, 7, 8, 9]

    # Once a real checkpoint covers them, the next run trims them without writing them again.
    assert (await signer.publish_now()).checkpoint is not None  # covers 1-9
    assert await covered_size(r, log.keys, settings) == 9
    assert await run() == (0, 2, 0)
    assert await _ids(r) == [6, 7, 8, 9]
    assert list(archive.iterdir()) == [file]  # one file, each event in it once
    anchor = await r.hgetall("steward:audit:anchor")
    assert (anchor["seq"], anchor["file"]) == ("5", file.name)
    assert [e.id for e in await log.events_for("old4")] == [5]  # held: kept
    assert [e.id for e in await log.events_for("old3")] == []  # not held: gone from Redis

    chain, report = await verify_published(
        log, signer.file.read(), signer.signing_key().public_key()
    )
    assert chain.ok and chain.checked == 4
    assert [p for p in report.problems if not p.startswith("forged")] == []


async def test_a_checkpoint_the_stored_tree_no_longer_matches_covers_nothing(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    settings = load_settings(steward_data_dir=tmp_path)
    log = AuditLog(r)
    assert await covered_size(r, log.keys, settings) == 0  # no key, no checkpoint
    for k in range(6):
        await log.record(interaction_id=f"i{k}", event="requested")
    signer = Checkpointer(r, settings)
    assert (await signer.publish_now()).checkpoint is not None
    assert await covered_size(r, log.keys, settings) == 6
    await r.setrange("steward:audit:merkle:0", 3 * 32, b"\x00" * 32)  # the node over 1-4
    assert await covered_size(r, log.keys, settings) == 0
