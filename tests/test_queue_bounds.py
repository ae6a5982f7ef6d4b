"""A queue that stays bounded (issue 16), against a real Redis: consumer groups created once and
again after Redis lost them, finished jobs leave the stream, the safety-net trim never touches
pending or unread entries, dedupe keys expire, and a lane's backlog bound cannot be overshot.

Time is a `ManualClock`: nothing here waits for a timeout to pass.
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from pydantic import BaseModel

from app.runtime import dedupe
from app.runtime.keys import GROUP, INTERACTIVE_STREAM, STREAM, STREAMS, Lane
from app.runtime.queue import Job, JobQueue, QueueBusy, Worker
from app.slack.reply import ReplyTo
from tests.clock import ManualClock
from tests.test_queue import fast_config


class Ping(BaseModel):
    n: int


class CountingQueue(JobQueue):
    """The real queue, counting how often a worker asks for its consumer groups."""

    created: list[Lane | None]

    async def ensure_group(self, lane: Lane | None = None) -> None:
        self.created.append(lane)
        await super().ensure_group(lane)


async def test_groups_are_created_once_and_again_after_redis_lost_them(r: aioredis.Redis) -> None:
    queue = CountingQueue(r, fast_config(block_ms=10))
    queue.created = []
    done: list[int] = []
    seen = asyncio.Event()

    async def handler(job: Job) -> None:
        done.append(job.payload["n"])
        seen.set()

    worker = Worker(queue, handler, clock=ManualClock(r))
    task = asyncio.create_task(worker.run())
    try:
        for n in range(3):  # many loop passes (each read blocks 10 ms), one creation per lane
            seen.clear()
            await queue.enqueue("ping", Ping(n=n))
            await asyncio.wait_for(seen.wait(), 10)
        assert sorted(queue.created) == ["interactive", "normal"]

        await r.delete(STREAM, INTERACTIVE_STREAM)  # as after a flush: streams and groups gone
        seen.clear()
        await queue.enqueue("ping", Ping(n=99))  # XADD makes the stream again, without a group
        await asyncio.wait_for(seen.wait(), 10)
    finally:
        worker.stop()
        await task
    assert done == [0, 1, 2, 99]
    assert queue.created.count("normal") == 2  # the normal lane's read found NOGROUP once
    assert (await r.xinfo_groups(STREAM))[0]["name"] == GROUP


async def test_finished_and_dead_jobs_leave_nothing_behind(r: aioredis.Redis) -> None:
    queue = JobQueue(r, fast_config(max_attempts=1))
    finished = asyncio.Event()
    count = 0

    async def handler(job: Job) -> None:
        nonlocal count
        count += 1
        if count == 40:
            finished.set()
        if job.payload["n"] % 10 == 0:
            raise RuntimeError("a job that fails for good")

    for n in range(40):
        await queue.enqueue("ping", Ping(n=n), lane="interactive" if n % 2 else "normal")
    worker = Worker(queue, handler, clock=ManualClock(r))
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(finished.wait(), 10)
        while worker._running:
            await asyncio.wait(list(worker._running.values()))
    finally:
        worker.stop()
        await task
    for stream in STREAMS.values():
        assert await r.xlen(stream) == 0
        assert (await r.xpending(stream, GROUP))["pending"] == 0
    assert await queue.depth() == 0
    assert await r.xlen("steward:jobs:dead") == 4
    assert [k async for k in r.scan_iter("steward:job:*")] == []  # no done marks, no sent marks


async def test_trim_removes_only_entries_the_group_owes_nothing(r: aioredis.Redis) -> None:
    queue = JobQueue(r, fast_config())
    await queue.ensure_group("normal")
    ids = [await r.xadd(STREAM, {"job": str(n)}) for n in range(6)]
    await r.xreadgroup(GROUP, "c1", {STREAM: ">"}, count=3)  # 0, 1, 2 pending; 3, 4, 5 unread
    await r.xack(STREAM, GROUP, ids[0])  # acknowledged but never deleted (an older version)
    assert await queue.trimmer.trim(STREAM) == 1
    assert [i for i, _ in await r.xrange(STREAM)] == ids[1:]  # pending 1 and 2 stay

    await r.xack(STREAM, GROUP, ids[1], ids[2])  # nothing pending; 3, 4, 5 not read yet
    await queue.trimmer.trim(STREAM)
    assert [i for i, _ in await r.xrange(STREAM)] == ids[2:]  # nothing after the last read goes
    assert await queue.trimmer.trim("steward:no-such-stream") == 0


async def test_dedupe_keys_expire_and_a_key_seen_in_an_earlier_bucket_still_counts(
    r: aioredis.Redis,
) -> None:
    queue = JobQueue(r, fast_config())
    assert await queue.enqueue("ping", Ping(n=1), dedupe_key="event:Ev1") is not None
    assert await queue.enqueue("ping", Ping(n=1), dedupe_key="event:Ev1") is None
    bucket = dedupe.buckets(dedupe.digest("event:Ev1"))[0]
    assert 0 < await r.ttl(bucket) <= dedupe.WINDOW_S + dedupe.BUCKET_S
    assert await r.type(bucket) == "hash"
    assert not [k async for k in r.scan_iter("steward:dedupe:event*")]  # no key per event
    # A retry ten minutes later looks in the bucket the first delivery was claimed in.
    later = dedupe.buckets(dedupe.digest("event:Ev1"), now=time.time() + 600)
    assert bucket in later[1:]


async def test_a_burst_past_the_backlog_bound_is_refused_without_overshooting(
    r: aioredis.Redis,
) -> None:
    config = fast_config()
    config.max_backlog = 5
    queue = JobQueue(r, config)
    told: list[tuple[str, str | None]] = []

    async def on_busy(kind: str, _payload: BaseModel, asker: ReplyTo | None) -> None:
        told.append((kind, asker.user_id if asker else None))

    queue.on_busy = on_busy
    asker = ReplyTo(user_id="U1", channel_id="C1")

    async def ask(n: int) -> str:
        try:
            await queue.enqueue("ping", Ping(n=n), refuse_when_busy=True, notify=asker)
        except QueueBusy:
            return "busy"
        return "queued"

    answers = await asyncio.gather(*(ask(n) for n in range(20)))  # one batch, one script
    assert answers.count("queued") == 5 and answers.count("busy") == 15
    assert await r.xlen(STREAM) == 5
    assert told == [("ping", "U1")] * 15
    # The runtime's own jobs, a dedupe-keyed request's duplicate check and the interactive lane
    # are not refused; a dedupe-keyed request is bounded like the rest.
    await queue.enqueue("ping", Ping(n=50))
    await queue.enqueue("ping", Ping(n=51), lane="interactive", refuse_when_busy=True)
    assert await ask(52) == "busy"
    try:
        await queue.enqueue("ping", Ping(n=53), dedupe_key="ev:53", refuse_when_busy=True)
    except QueueBusy:
        pass
    else:
        raise AssertionError("a dedupe-keyed request past the bound was queued")
    # Refused, so its key was not claimed: Slack's retry, once there is room, is taken.
    await r.delete(STREAM)
    assert await queue.enqueue("ping", Ping(n=53), dedupe_key="ev:53", refuse_when_busy=True)
    assert await r.xlen(INTERACTIVE_STREAM) == 1
