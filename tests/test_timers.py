"""Durable timers on a real Redis: fire once across racing pollers, survive a new client."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis.asyncio as aioredis
from pydantic import BaseModel

from app.runtime import timers
from app.runtime.keys import STREAM
from app.runtime.queue import Job
from tests.clock import ManualClock


class Ping(BaseModel):
    n: int


async def stream_jobs(r: aioredis.Redis) -> list[Job]:
    entries: Any = await r.xrange(STREAM)
    return [Job.model_validate_json(fields["job"]) for _, fields in entries]


async def test_only_due_timers_fire_and_each_fires_once(r: aioredis.Redis) -> None:
    now = time.time()
    await timers.schedule(r, "a", now - 1, "help", Ping(n=1))
    await timers.schedule(r, "b", now + 3600, "help", Ping(n=2))
    assert await timers.fire_due(r, now) == 1
    assert await timers.fire_due(r, now) == 0
    jobs = await stream_jobs(r)
    assert [(j.id, j.kind, j.payload) for j in jobs] == [("timer:a", "help", {"n": 1})]
    assert list(await timers.pending(r)) == ["b"]


async def test_rescheduling_the_same_timer_keeps_one(r: aioredis.Redis) -> None:
    await timers.schedule(r, "x", 100.0, "help", Ping(n=1))
    await timers.schedule(r, "x", 200.0, "help", Ping(n=2))
    assert await timers.pending(r) == {"x": 200.0}
    assert await timers.fire_due(r, 300.0) == 1
    assert [j.payload for j in await stream_jobs(r)] == [{"n": 2}]


async def test_racing_pollers_fire_every_timer_exactly_once(
    r: aioredis.Redis, redis_url: str
) -> None:
    now = time.time()
    for n in range(60):
        await timers.schedule(r, f"t{n}", now - n, "help", Ping(n=n))
    clients = [aioredis.Redis.from_url(redis_url, decode_responses=True) for _ in range(8)]
    try:
        fired = await asyncio.gather(
            *(timers.fire_due(c, now, limit=7) for c in clients for _ in range(3))
        )
    finally:
        for client in clients:
            await client.aclose()
    assert sum(fired) == 60
    ids = [j.id for j in await stream_jobs(r)]
    assert sorted(ids) == sorted(f"timer:t{n}" for n in range(60))
    assert await timers.pending(r) == {}


async def test_cancelled_timers_never_fire(r: aioredis.Redis) -> None:
    await timers.schedule(r, "gone", 1.0, "help", Ping(n=1))
    await timers.cancel(r, "gone")
    assert await timers.fire_due(r, 10.0) == 0
    assert await stream_jobs(r) == []


async def test_timers_survive_a_new_process(r: aioredis.Redis, redis_url: str) -> None:
    await timers.schedule(r, "later", time.time() + 3600, "help", Ping(n=7))
    await r.aclose()  # the process that set it is gone
    fresh = aioredis.Redis.from_url(redis_url, decode_responses=True)
    stop = asyncio.Event()
    clock = ManualClock()
    poller = timers.TimerPoller(fresh, stop.is_set, clock)
    task = asyncio.create_task(poller.run())
    try:
        await clock.sleepers(1)  # one pass done: not due yet
        assert await fresh.xlen(STREAM) == 0
        await clock.advance(3600)
        await clock.sleepers(1)  # the pass the advance woke is done
        assert [j.payload for j in await stream_jobs(fresh)] == [{"n": 7}]
        assert await timers.pending(fresh) == {}
    finally:
        stop.set()
        await clock.advance(1)  # wake the poller so it sees the stop
        await task
        await fresh.aclose()
