"""The retention job: archives past the policy window once across processes, then trims."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import redis.asyncio as aioredis

from app.audit.log import AuditLog
from app.audit.retention import RetentionJob
from tests.e2e import running_stack
from tests.test_audit import _aged_log

GATE = "steward:audit:retention:gate"


async def test_two_processes_archive_once_and_the_chain_still_verifies(
    r: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    log, clock = await _aged_log(r)  # 5 events 40 days old, 3 from yesterday
    other_client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    other = AuditLog(other_client, clock=clock)
    archive = tmp_path / "archive"
    jobs = [
        RetentionJob(log, r, lambda: 30, archive),
        RetentionJob(other, other_client, lambda: 30, archive),
    ]
    results = await asyncio.gather(*(job.run_once() for job in jobs))
    await other_client.aclose()
    done = [x for x in results if x is not None]
    assert len(done) == 1 and done[0].archived == 5  # the other was gated
    files = list(archive.iterdir())
    assert len(files) == 1
    assert [json.loads(x)["id"] for x in files[0].read_text().splitlines()] == [1, 2, 3, 4, 5]
    assert await r.xlen("steward:audit") == 3  # trimmed
    verified = await log.verify()
    assert (verified.ok, verified.checked) == (True, 3)
    assert 0 < await r.pttl(GATE) <= 3_600_000  # the next run is an hour away


async def test_the_loop_runs_at_start_and_stops_when_told(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    log, _ = await _aged_log(r)
    stop = asyncio.Event()
    job = RetentionJob(log, r, lambda: 30, tmp_path, stopped=stop.is_set, interval=60)
    task = asyncio.create_task(job.run())
    while not list(tmp_path.glob("audit-*.jsonl")):
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert (await log.verify()).ok and await r.xlen("steward:audit") == 3


async def test_workers_start_the_retention_job(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    async with running_stack(redis_url, tmp_path) as stack:
        redis = stack.runtime.services.redis
        await stack.sandbox.wait_for(lambda: redis.exists(GATE), timeout=10)
        # The gate is taken just before the run; the run makes STEWARD_DATA_DIR/archive.
        archive = tmp_path / "archive"
        assert await stack.sandbox.wait_for(archive.is_dir, timeout=10)
