"""AcksFirst: in-process workers start no new job while serve is answering a request."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from pydantic import BaseModel

from app.runtime.acks_first import AcksFirst
from app.runtime.keys import GROUP, STREAMS, Lane
from app.runtime.queue import Job, JobQueue, QueueConfig, Worker


async def test_a_worker_waits_while_a_request_is_answered_and_goes_on_when_it_is() -> None:
    acks = AcksFirst(max_wait=60)  # far longer than the test: only `leave` can end the wait
    acks.enter()
    waiting = asyncio.ensure_future(acks.wait())
    await asyncio.sleep(0)
    assert not waiting.done()
    acks.enter()
    acks.leave()  # one of two requests answered: still busy
    await asyncio.sleep(0)
    assert not waiting.done()
    acks.leave()
    assert await asyncio.wait_for(waiting, 5) is None  # idle again: no cap on the next read


async def test_a_lull_between_requests_does_not_wake_the_workers() -> None:
    acks = AcksFirst(max_wait=60, quiet=60)  # only a quiet minute would count as idle
    acks.enter()
    waiting = asyncio.ensure_future(acks.wait())
    acks.leave()  # nothing is being answered for a moment: a burst between two requests
    for _ in range(5):
        await asyncio.sleep(0)
    assert not waiting.done()
    acks.enter()
    acks.leave()
    await asyncio.sleep(0)
    assert not waiting.done()
    waiting.cancel()


async def test_an_idle_front_door_never_holds_a_worker() -> None:
    assert await asyncio.wait_for(AcksFirst(max_wait=60).wait(), 5) is None


async def test_a_steady_stream_of_requests_cannot_starve_the_workers() -> None:
    acks = AcksFirst(max_wait=0.01)
    acks.enter()  # never left: requests keep arriving
    # Returns after max_wait anyway, allowing one job: the work trickles on, the answers first.
    assert await asyncio.wait_for(acks.wait(), 5) == 1


async def test_model_work_trickles_slower_than_clicks_while_requests_keep_coming() -> None:
    acks = AcksFirst(max_wait=0.01, normal_wait=60)
    acks.enter()  # never left
    normal = asyncio.ensure_future(acks.wait("normal"))
    assert await asyncio.wait_for(acks.wait("interactive"), 5) == 1  # a click's job may start
    assert not normal.done()  # a model job may not, yet
    acks.leave()  # the front door goes quiet: every lane may fill its slots
    assert await asyncio.wait_for(normal, 5) is None


class Ping(BaseModel):
    n: int


async def test_a_capped_read_takes_one_job_and_leaves_the_rest_queued(r: aioredis.Redis) -> None:
    queue = JobQueue(r, QueueConfig(block_ms=50, concurrency=8))
    for n in range(4):
        await queue.enqueue("ping", Ping(n=n))
    never = asyncio.Event()
    lanes_read: set[asyncio.Task[object] | None] = set()

    async def busy_front_door(_: Lane) -> int | None:
        lane = asyncio.current_task()  # each lane reads from a task of its own
        if lane in lanes_read:
            await never.wait()  # a lane's second read never comes: only its first one counts
        lanes_read.add(lane)
        return 1

    started: list[int] = []
    first = asyncio.Event()

    async def handler(job: Job) -> None:
        started.append(job.payload["n"])
        first.set()
        await never.wait()

    worker = Worker(queue, handler, before_read=busy_front_door)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(first.wait(), 10)
        (group,) = [g for g in await r.xinfo_groups(STREAMS["normal"]) if g["name"] == GROUP]
        assert started == [0]
        assert group["pending"] == 1  # one job taken, although eight slots were free
        assert group["lag"] == 3
    finally:
        worker.stop()
        never.set()  # release the job and the blocked read, so the worker stops at once
        await asyncio.wait_for(task, 10)
