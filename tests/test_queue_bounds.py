"""Bounded Redis (issue 16): finished jobs leave nothing behind, the stream is trimmed below
what the group still needs and never above it, dedupe keys expire, and a worker whose stream
or group vanished (Redis restarted empty) makes it again and carries on. Real Redis."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from app.runtime.keys import ATTEMPTS, GROUP, STREAM
from app.runtime.queue import DEDUPE_TTL_S, EVENT_DEDUPE_TTL_S, Job, JobQueue, Worker
from app.runtime.trim import trim
from tests.clock import ManualClock
from tests.test_queue import Ping, fast_config, run_until


async def test_finished_jobs_leave_nothing_in_redis(r: aioredis.Redis) -> None:
    queue = JobQueue(r, fast_config())
    await queue.ensure_group()
    before = set(await r.keys("*"))
    seen: list[int] = []
    done = asyncio.Event()

    async def handler(job: Job) -> None:
        seen.append(job.payload["n"])
        if len(seen) == 50:
            done.set()

    for n in range(50):
        await queue.enqueue("ping", Ping(n=n))
    await run_until(Worker(queue, handler), done)
    assert sorted(seen) == list(range(50))
    assert await r.xlen(STREAM) == 0  # acked and deleted in one step
    assert await r.hlen(ATTEMPTS) == 0
    assert set(await r.keys("*")) == before  # no per-job marker keys


async def test_trim_keeps_what_the_group_still_needs(r: aioredis.Redis) -> None:
    queue = JobQueue(r, fast_config())
    await queue.ensure_group()
    # An older Steward acked without deleting: five acked entries, then one pending, then two
    # never delivered.
    ids = [await r.xadd(STREAM, {"job": str(n)}) for n in range(8)]
    read = await r.xreadgroup(GROUP, "old", {STREAM: ">"}, count=6)
    assert len(read[0][1]) == 6
    await r.xack(STREAM, GROUP, *ids[:5])
    assert await trim(r, "normal") == 5
    left = [entry_id for entry_id, _ in await r.xrange(STREAM)]
    assert left == ids[5:]  # the pending one and the undelivered two
    assert await trim(r, "normal") == 0


async def test_trim_keeps_undelivered_work_when_nothing_is_pending(r: aioredis.Redis) -> None:
    queue = JobQueue(r, fast_config())
    await queue.ensure_group()
    ids = [await r.xadd(STREAM, {"job": str(n)}) for n in range(3)]
    read = await r.xreadgroup(GROUP, "old", {STREAM: ">"}, count=1)
    await r.xack(STREAM, GROUP, read[0][1][0][0])
    assert await trim(r, "normal") == 1
    assert [entry_id for entry_id, _ in await r.xrange(STREAM)] == ids[1:]


async def test_dedupe_keys_expire_within_slacks_windows(r: aioredis.Redis) -> None:
    queue = JobQueue(r, fast_config())
    await queue.enqueue("ping", Ping(n=1), dedupe_key="command:trigger-1")
    await queue.enqueue("ping", Ping(n=2), dedupe_key="event:Ev1")
    command_ttl = await r.ttl("steward:dedupe:command:trigger-1")
    event_ttl = await r.ttl("steward:dedupe:event:Ev1")
    assert 0 < command_ttl <= DEDUPE_TTL_S <= 15 * 60
    assert DEDUPE_TTL_S < event_ttl <= EVENT_DEDUPE_TTL_S


async def test_a_worker_makes_its_group_again_when_redis_lost_it(r: aioredis.Redis) -> None:
    queue = JobQueue(r, fast_config())
    seen: list[int] = []
    first, second = asyncio.Event(), asyncio.Event()

    async def handler(job: Job) -> None:
        seen.append(job.payload["n"])
        (first if job.payload["n"] == 1 else second).set()

    worker = Worker(queue, handler, clock=ManualClock())
    task = asyncio.create_task(worker.run())
    try:
        await queue.enqueue("ping", Ping(n=1))
        await asyncio.wait_for(first.wait(), 10)
        await r.delete(STREAM)  # as a Redis restarted without its data would have it
        await queue.enqueue("ping", Ping(n=2))  # a new stream, with no group on it
        await asyncio.wait_for(second.wait(), 10)
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)
    assert seen == [1, 2]
