"""Durable timers: "run this job at time T", kept in Redis so they survive restarts.

A timer is a ready-made job (the same JSON the queue carries) stored in a hash, and its due
time in a sorted set (`steward:timers`). Every process that runs workers also runs a poller;
a poller fires what is due with one Lua call that removes each due timer from the set and
appends its job to the job stream in the same atomic step. So a timer fires exactly once however
many pollers race for it, and is never lost between "claimed" and "queued": there is no window
in which a dying process holds it. "Due" is read from the poller's clock, so a test advances
time instead of waiting for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import redis.asyncio as aioredis
from pydantic import BaseModel
from redis.exceptions import RedisError

from app.runtime.clock import SYSTEM, Clock
from app.runtime.keys import STREAM, TIMER_JOBS, TIMERS
from app.runtime.queue import Job, Worker

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.2
BATCH = 100

_FIRE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local fired = 0
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  local job = redis.call('HGET', KEYS[2], id)
  redis.call('HDEL', KEYS[2], id)
  if job then
    redis.call('XADD', KEYS[3], '*', 'job', job)
    fired = fired + 1
  end
end
return fired
"""

_SCHEDULE = """
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
"""


async def schedule(
    redis: aioredis.Redis, timer_id: str, due: float, kind: str, payload: BaseModel
) -> None:
    """Run job `kind` with `payload` at `due` (epoch seconds). Scheduling the same `timer_id`
    again replaces it, so a retried caller never sets two timers."""
    job = Job(
        id=f"timer:{timer_id}",
        kind=kind,
        payload=payload.model_dump(mode="json"),
        enqueued_at=due,
    )
    await redis.eval(_SCHEDULE, 2, TIMERS, TIMER_JOBS, timer_id, due, job.model_dump_json())


async def cancel(redis: aioredis.Redis, *timer_ids: str) -> None:
    if not timer_ids:
        return
    pipe = redis.pipeline(transaction=True)
    pipe.zrem(TIMERS, *timer_ids)
    pipe.hdel(TIMER_JOBS, *timer_ids)
    await pipe.execute()


async def pending(redis: aioredis.Redis) -> dict[str, float]:
    """Timer id -> due time, for tests and operators."""
    rows: Any = await redis.zrange(TIMERS, 0, -1, withscores=True)
    return {str(member): float(score) for member, score in rows}


async def fire_due(redis: aioredis.Redis, now: float | None = None, limit: int = BATCH) -> int:
    """Queue the jobs of every timer due by `now`; returns how many this call fired."""
    moment = SYSTEM.time() if now is None else now
    fired = await redis.eval(_FIRE, 3, TIMERS, TIMER_JOBS, STREAM, repr(moment), limit)
    return int(fired or 0)


class TimerPoller:
    """Fires due timers until `stopped()` says the process is shutting down."""

    def __init__(
        self, redis: aioredis.Redis, stopped: Callable[[], bool], clock: Clock = SYSTEM
    ) -> None:
        self.redis = redis
        self.stopped = stopped
        self.clock = clock

    async def run(self) -> None:
        while not self.stopped():
            try:
                fired = await fire_due(self.redis, self.clock.time())
                if fired:
                    log.info("timers fired", extra={"count": fired})
                    continue  # there may be more due than one batch
            except (RedisError, OSError) as exc:
                log.warning("timer poller cannot reach redis", extra={"error": type(exc).__name__})
            await self.clock.sleep(POLL_INTERVAL_S)


def start_timer_poller(
    redis: aioredis.Redis,
    spawn: Callable[[Callable[[], Coroutine[Any, Any, None]]], None],
    workers: Sequence[Worker],
    clock: Clock = SYSTEM,
) -> TimerPoller:
    """Run a poller beside `workers`; it stops when they have all been told to stop."""
    poller = TimerPoller(
        redis, lambda: bool(workers) and all(w._stop.is_set() for w in workers), clock
    )
    spawn(poller.run)
    return poller
