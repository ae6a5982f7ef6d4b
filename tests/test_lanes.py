"""The interactive lane (issue 12, item 14): clicks and decisions never wait behind model jobs.

The model is held (it answers nobody until the test releases it), so the normal lane's slots are
all busy and more model jobs wait behind them: deterministic, not timed. An Approve, a Why? and
`/steward help` still complete meanwhile.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import redis.asyncio as aioredis
from pydantic import BaseModel

from app.runtime.keys import DEAD, GROUP, INTERACTIVE_STREAM, STREAM
from app.runtime.queue import Job, JobQueue, QueueConfig, Worker
from app.sandbox.openai_compat import ModelServer
from tests.clock import ManualClock
from tests.e2e import EMPLOYEE, GENERAL, LAUNCH, MANAGER, model_settings, running_stack
from tests.test_e2e_draft import POLICY, posts, submitted, write_policy

# The draft tests' policy, with room for the whole flood in the per-minute limit.
FLOOD_POLICY = POLICY + "defaults:\n  budget: {user_requests_per_minute: 100}\n"
NORMAL_SLOTS = 4
FLOOD = 10


class Ping(BaseModel):
    n: int


async def test_an_approval_and_a_why_complete_while_model_jobs_wait(
    redis_url: str, redis_sync: object, tmp_path: Path, model: ModelServer
) -> None:
    model.hold = asyncio.Event()
    model.hold.set()  # open while the draft is written
    queue = QueueConfig(visibility_timeout=30.0, max_attempts=3, block_ms=100)
    queue.concurrency = NORMAL_SLOTS
    async with running_stack(
        redis_url,
        tmp_path,
        queue=queue,
        steward_policy=str(write_policy(tmp_path, FLOOD_POLICY)),
        steward_user_jobs_in_flight=0,  # no cap: one person fills the normal lane
        **model_settings(model.url),
    ) as stack:
        sb = stack.sandbox
        _, request = await submitted(stack, "announce that the beta launch moves to May 12")
        for text in ("We ship on Tuesday.", "Changelog?", "Done."):
            await sb.user(EMPLOYEE).post(GENERAL, text)

        model.hold.clear()  # from now on every model call waits
        try:
            held = len(model.requests)
            for _ in range(FLOOD):
                await sb.user(EMPLOYEE).command("/summarize", "6h", channel=GENERAL)
            # Every normal slot is taken by a summary waiting on the model; the rest wait in line.
            await sb.wait_for(lambda: len(model.requests) - held == NORMAL_SLOTS)
            assert await stack.runtime.queue.depth("normal") == FLOOD

            await sb.user(MANAGER).click("Why?", in_=request)
            trace = await sb.wait_for(lambda: sb.user(MANAGER).modal)
            assert "Policy rule" in json.dumps(trace.blocks)
            await sb.user(MANAGER).click("Approve", in_=request)
            post = (await sb.wait_for(lambda: posts(sb, LAUNCH)))[0]
            assert "beta launch moves to May 12" in post.text
            await sb.user(MANAGER).command("/steward", "help", channel=GENERAL)
            await sb.wait_for(lambda: any("Steward help" in e.text for e in sb.ephemerals(MANAGER)))

            # All of it while the model backlog was still waiting, untouched.
            assert len(model.requests) - held == NORMAL_SLOTS
            assert await stack.runtime.queue.depth("normal") == FLOOD
            assert not any(
                "Share in thread" in json.dumps(e.blocks) for e in sb.ephemerals(EMPLOYEE)
            )

        finally:  # a failed assertion must not leave the workers waiting on the model
            model.hold.set()

        def summaries() -> int:
            return sum("Share in thread" in json.dumps(e.blocks) for e in sb.ephemerals(EMPLOYEE))

        await sb.wait_for(lambda: summaries() == FLOOD, timeout=30)


def config() -> QueueConfig:
    return QueueConfig(
        visibility_timeout=30.0,
        max_attempts=2,
        concurrency=1,
        interactive_concurrency=1,
        block_ms=50,
    )


async def test_a_worker_runs_interactive_jobs_while_its_normal_slots_are_busy(
    r: aioredis.Redis,
) -> None:
    queue = JobQueue(r, config())
    release = asyncio.Event()
    order: list[tuple[str, int]] = []
    interactive_done = asyncio.Event()
    normal_started = asyncio.Event()

    async def handler(job: Job) -> None:
        order.append((job.lane, job.payload["n"]))
        if job.lane == "normal":
            normal_started.set()
            await release.wait()
        else:
            interactive_done.set()

    for n in range(3):
        await queue.enqueue("ping", Ping(n=n))
    await queue.enqueue("ping", Ping(n=99), lane="interactive")
    worker = Worker(queue, handler)
    task = asyncio.create_task(worker.run())
    try:
        # Which lane's first job starts first is the worker's business; both must run while
        # the normal lane's one slot stays busy.
        await asyncio.wait_for(asyncio.gather(interactive_done.wait(), normal_started.wait()), 10)
        assert ("interactive", 99) in order
        assert [n for lane, n in order if lane == "normal"] == [0]  # the rest still wait
        assert await queue.depth("normal") == 3 and await queue.depth("interactive") == 0
        release.set()
        while len(order) < 4:
            await asyncio.sleep(0.01)
    finally:
        release.set()  # a failed assertion must not leave the worker waiting forever
        worker.stop()
        await task
    assert [n for lane, n in order if lane == "normal"] == [0, 1, 2]
    assert await queue.depth() == 0


async def test_interactive_jobs_are_reclaimed_and_dead_lettered_in_their_lane(
    r: aioredis.Redis,
) -> None:
    queue = JobQueue(r, config())
    clock = ManualClock(r)
    attempts: asyncio.Queue[str] = asyncio.Queue()
    dead: list[str] = []
    buried = asyncio.Event()

    async def handler(job: Job) -> None:
        attempts.put_nowait(job.lane)
        raise RuntimeError("boom")

    async def on_dead(job: Job, error: str) -> None:
        dead.append(job.lane)
        buried.set()

    await queue.enqueue("ping", Ping(n=1), lane="interactive")
    worker = Worker(queue, handler, on_dead, clock=clock)
    task = asyncio.create_task(worker.run())
    try:
        assert await asyncio.wait_for(attempts.get(), 10) == "interactive"
        while worker._running:
            await asyncio.wait(list(worker._running.values()))
        await clock.advance(30.0)  # past the visibility timeout: the retry comes at once
        assert await asyncio.wait_for(attempts.get(), 10) == "interactive"
        await asyncio.wait_for(buried.wait(), 10)
    finally:
        worker.stop()
        await task
    assert dead == ["interactive"]
    letters = await queue.dead_letters()
    assert [(d["lane"], d["error"]) for d in letters] == [("interactive", "RuntimeError")]
    assert (await r.xpending(INTERACTIVE_STREAM, GROUP))["pending"] == 0
    assert await r.xlen(STREAM) == 0 and await r.xlen(DEAD) == 1


async def test_a_collected_job_requeued_keeps_its_lane(r: aioredis.Redis) -> None:
    queue = JobQueue(r, config())
    with queue.collecting() as jobs:
        await queue.enqueue("ping", Ping(n=5), lane="interactive")
    assert [job.lane for job in jobs] == ["interactive"]
    await queue.requeue(jobs[0])
    assert await r.xlen(INTERACTIVE_STREAM) == 1 and await r.exists(STREAM) == 0
