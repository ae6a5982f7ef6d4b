"""The job queue against a real Redis: dedupe, completion, retry, dead letters, takeover.

Time is a `ManualClock`: a retry or a takeover happens because the test moved the clock past the
visibility timeout, never because the test slept through it.
"""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from pydantic import BaseModel

from app.runtime.keys import DEAD, GROUP, STREAM
from app.runtime.queue import Job, JobQueue, QueueConfig, Worker
from app.slack.reply import ReplyTo
from tests.clock import ManualClock

VISIBILITY = 30.0


class Ping(BaseModel):
    n: int


def fast_config(**overrides: float) -> QueueConfig:
    values: dict[str, float] = {"visibility_timeout": VISIBILITY, "max_attempts": 3, "block_ms": 50}
    values.update(overrides)
    return QueueConfig(
        visibility_timeout=values["visibility_timeout"],
        max_attempts=int(values["max_attempts"]),
        block_ms=int(values["block_ms"]),
    )


async def run_until(worker: Worker, condition: asyncio.Event, timeout: float = 10.0) -> None:
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(condition.wait(), timeout)
    finally:
        worker.stop()
        await task


async def until_idle(worker: Worker) -> None:
    """Until the worker has finished with every job it started (bounded by the test timeout)."""
    while worker._running:
        await asyncio.wait(list(worker._running.values()))


async def test_duplicate_dedupe_key_is_queued_once(r: aioredis.Redis) -> None:
    queue = JobQueue(r, fast_config())
    ids = [await queue.enqueue("ping", Ping(n=1), dedupe_key="event:Ev1") for _ in range(3)]
    assert ids[0] is not None
    assert ids[1:] == [None, None]
    assert await r.xlen(STREAM) == 1


async def test_concurrent_duplicates_race_to_one_job(r: aioredis.Redis) -> None:
    queue = JobQueue(r, fast_config())
    results = await asyncio.gather(
        *(queue.enqueue("ping", Ping(n=1), dedupe_key="event:race") for _ in range(20))
    )
    assert sum(1 for job_id in results if job_id) == 1


async def test_worker_runs_job_once_and_acks(r: aioredis.Redis) -> None:
    queue = JobQueue(r, fast_config())
    seen: list[Job] = []
    done = asyncio.Event()

    async def handler(job: Job) -> None:
        seen.append(job)
        done.set()

    await queue.enqueue("ping", Ping(n=7))
    await run_until(Worker(queue, handler), done)
    assert [job.payload for job in seen] == [{"n": 7}]
    pending = await r.xpending(STREAM, GROUP)
    assert pending["pending"] == 0
    assert await queue.depth() == 0


async def test_failing_job_is_retried_then_dead_lettered_and_user_told(r: aioredis.Redis) -> None:
    queue = JobQueue(r, fast_config(max_attempts=3))
    clock = ManualClock(r)
    attempts = 0
    failed: asyncio.Queue[int] = asyncio.Queue()
    told: list[tuple[str, str]] = []
    dead = asyncio.Event()

    async def handler(job: Job) -> None:
        nonlocal attempts
        attempts += 1
        failed.put_nowait(attempts)
        raise RuntimeError("model exploded")

    async def on_dead(job: Job, error: str) -> None:
        assert job.notify is not None
        told.append((job.notify.user_id, error))
        dead.set()

    await queue.enqueue("ping", Ping(n=1), notify=ReplyTo(user_id="U1", channel_id="C1"))
    worker = Worker(queue, handler, on_dead, clock=clock)
    task = asyncio.create_task(worker.run())
    try:
        for attempt in (1, 2):  # each failure stays pending until the visibility timeout passes
            assert await asyncio.wait_for(failed.get(), 10) == attempt
            await until_idle(worker)
            await clock.advance(VISIBILITY)
        await asyncio.wait_for(dead.wait(), 10)
    finally:
        worker.stop()
        await task
    assert attempts == 3
    assert told == [("U1", "RuntimeError")]
    assert await r.xlen(DEAD) == 1
    assert (await r.xpending(STREAM, GROUP))["pending"] == 0


async def test_job_held_by_a_dead_consumer_is_taken_over(r: aioredis.Redis) -> None:
    queue = JobQueue(r, fast_config())
    clock = ManualClock(r)
    await queue.ensure_group()
    await queue.enqueue("ping", Ping(n=3))
    # A consumer reads the job and then "dies": no heartbeat, no XACK.
    taken = await r.xreadgroup(GROUP, "dead-consumer", {STREAM: ">"}, count=1)
    assert taken and taken[0][1]
    done = asyncio.Event()
    ran: list[int] = []

    async def handler(job: Job) -> None:
        ran.append(job.payload["n"])
        done.set()

    survivor = Worker(queue, handler, name="survivor", clock=clock)
    task = asyncio.create_task(survivor.run())
    try:
        await clock.advance(VISIBILITY)  # the dead consumer's heartbeat is now overdue
        await asyncio.wait_for(done.wait(), 10)
    finally:
        survivor.stop()
        await task
    assert ran == [3]
    assert (await r.xpending(STREAM, GROUP))["pending"] == 0


async def test_heartbeat_keeps_a_slow_job_from_being_taken_over(r: aioredis.Redis) -> None:
    queue = JobQueue(r, fast_config())
    clock = ManualClock(r)
    await queue.enqueue("ping", Ping(n=1))
    release = asyncio.Event()
    started: list[str] = []
    holding = asyncio.Event()
    finished = asyncio.Event()

    async def slow(job: Job) -> None:
        started.append(job.id)
        holding.set()
        await release.wait()
        finished.set()

    async def never(job: Job) -> None:
        started.append("second:" + job.id)

    first = Worker(queue, slow, name="first", clock=clock)
    second = Worker(queue, never, name="second", clock=clock)
    tasks = [asyncio.create_task(first.run())]
    try:
        await asyncio.wait_for(holding.wait(), 10)
        tasks.append(asyncio.create_task(second.run()))
        # Three visibility windows pass while the first worker still holds the job: each step
        # is one heartbeat interval, and the next starts once the heartbeat has beaten.
        for _ in range(9):
            await clock.sleepers(1)
            await clock.advance(VISIBILITY / 3)
        await clock.sleepers(1)
        release.set()
        await asyncio.wait_for(finished.wait(), 5)
    finally:
        release.set()  # a failed step must not leave the first worker holding its job forever
        first.stop()
        second.stop()
        await asyncio.gather(*tasks)
    assert len(started) == 1


async def test_enqueue_reports_unavailable_redis() -> None:
    from app.runtime.queue import QueueUnavailable
    from app.runtime.store import async_client

    broken = async_client("redis://127.0.0.1:1/0")
    queue = JobQueue(broken, fast_config())
    with pytest.raises(QueueUnavailable):
        await queue.enqueue("ping", Ping(n=1))
    # Callers sharing one pipelined write each hear that it failed.
    results = await asyncio.gather(
        *(queue.enqueue("ping", Ping(n=n)) for n in range(5)), return_exceptions=True
    )
    assert all(isinstance(result, QueueUnavailable) for result in results)
    await broken.aclose()


async def test_concurrent_enqueues_each_get_their_own_job(r: aioredis.Redis) -> None:
    queue = JobQueue(r, fast_config())
    ids = await asyncio.gather(*(queue.enqueue("ping", Ping(n=n)) for n in range(200)))
    jobs = [Job.model_validate_json(fields["job"]) for _, fields in await r.xrange(STREAM)]
    # Sent in shared pipelines, yet each caller got the id of its own job, in call order.
    assert [job.id for job in jobs] == ids
    assert [job.payload["n"] for job in jobs] == list(range(200))
