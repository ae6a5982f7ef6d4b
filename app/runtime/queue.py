"""The durable job queue: a Redis Stream read by a consumer group.

Listeners acknowledge Slack at once and `enqueue`; workers run the job and XACK it when done.
The whole model:

- `enqueue` is one XADD. A job with a dedupe key (e.g. Slack's `event_id` on a retry) is one Lua
  call instead, which drops the duplicate and XADDs otherwise, atomically. Plain XADDs that are
  queued at the same moment share one pipelined round trip (app/runtime/batch.py): under a
  burst of requests, one write to Redis carries many jobs, which keeps the acknowledgement path
  cheap.
- A worker reads with XREADGROUP, and keeps each job it holds "fresh" by re-claiming it for itself
  (a heartbeat). A job whose holder died goes idle and is taken over by another worker with
  XAUTOCLAIM after `visibility_timeout`.
- A job that raised is left pending and retried the same way, after the visibility timeout.
- After `max_attempts` starts the job goes to the dead-letter stream and the user is told.
- A finished job is marked done before it is XACKed, so a worker that dies between the two does
  not make another worker run it again.
- Two lanes (app/runtime/keys.py), one stream each: `normal` for model work and queued Slack
  requests, `interactive` for clicks, modals and approval decisions. Every worker reads both,
  each lane with its own slots (`concurrency` and `interactive_concurrency`), so a click's job
  starts at once however long the model backlog is: a flood of summaries can fill the normal
  slots, never the interactive ones. Reclaim, attempts and dead letters are per lane (the dead
  letter names its lane); dedupe keys and done markers are shared (job ids are unique).
- Inside `collecting()`, jobs are handed back to the caller instead of streamed: the HTTP inbox
  runs the job a replayed request's listener queued in the same worker, one hop as in Socket
  Mode. A dedupe key is still claimed, by the job being run, so a Slack retry is still dropped
  and a re-run of that same job (its worker died) may claim it again.

A job's idle time is Redis's own (one clock for every host); when to heartbeat, when to look for
idle jobs and how long to back off are read from the worker's `clock`, so a test advances time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from pydantic import BaseModel
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.runtime import metrics
from app.runtime.batch import XaddBatch
from app.runtime.clock import SYSTEM, Clock, sleep_unless
from app.runtime.keys import (
    DEAD,
    GROUP,
    LANE_ATTEMPTS,
    LANES,
    STREAMS,
    Lane,
    dedupe,
    job_done,
)
from app.slack.reply import ReplyTo  # who to tell if a job cannot be completed

log = logging.getLogger(__name__)

DEDUPE_TTL_S = 24 * 3600
DONE_TTL_S = 24 * 3600

# Add the job unless its dedupe key was seen: one atomic step, so two deliveries of the same
# Slack event racing each other still produce one job.
_ENQUEUE = """
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[2]) then return false end
return redis.call('XADD', KEYS[1], '*', 'job', ARGV[3])
"""


class Job(BaseModel):
    id: str
    kind: str
    payload: dict[str, Any]
    notify: ReplyTo | None = None
    enqueued_at: float
    prior_attempts: int = 0  # runs before it was streamed (a replayed request's inline run)
    lane: Lane = "normal"


_ids = itertools.count()
_id_prefix = os.urandom(8).hex()


def _new_id_prefix() -> None:
    global _id_prefix, _ids
    _id_prefix, _ids = os.urandom(8).hex(), itertools.count()


os.register_at_fork(after_in_child=_new_id_prefix)  # serve's processes never share a prefix


def new_job_id() -> str:
    """Unique across processes and restarts: 64 random bits per process, then a counter. Not a
    uuid4 per job: that is a getrandom system call on every request serve answers."""
    return f"{_id_prefix}{next(_ids):016x}"


class QueueUnavailable(Exception):
    """Redis did not take the job. The caller must tell the person; nothing was queued."""


Handler = Callable[[Job], Awaitable[None]]
DeadLetterHook = Callable[[Job, str], Awaitable[None]]


@dataclass
class QueueConfig:
    visibility_timeout: float = 30.0  # seconds a job may go without a heartbeat
    max_attempts: int = 5
    concurrency: int = 8  # normal-lane jobs one worker runs at once
    interactive_concurrency: int = 4  # interactive-lane jobs, on slots of their own
    block_ms: int = 1000  # how long one XREADGROUP waits for work


# KEYS[1] dedupe key; ARGV: owner (the job being run), ttl. 1 when the owner holds the claim.
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
"""

# The job the current task is running (set by the worker), and jobs being collected instead of
# queued (set by `JobQueue.collecting`).
CURRENT_JOB: ContextVar[Job | None] = ContextVar("steward_current_job", default=None)


@dataclass
class _Collector:
    owner: str
    jobs: list[Job] = field(default_factory=list)
    open: bool = True


_COLLECTING: ContextVar[_Collector | None] = ContextVar("steward_collecting", default=None)


class JobQueue:
    def __init__(self, redis: aioredis.Redis, config: QueueConfig | None = None) -> None:
        self.redis = redis
        self.config = config or QueueConfig()
        self._enqueue = redis.register_script(_ENQUEUE)
        self._claim = redis.register_script(_CLAIM)
        self._batch = XaddBatch(redis)

    @contextlib.contextmanager
    def collecting(self) -> Iterator[list[Job]]:
        """Jobs enqueued in this block (and its tasks) are returned, not streamed; run them."""
        current = CURRENT_JOB.get()
        collector = _Collector(owner=current.id if current else uuid.uuid4().hex)
        token = _COLLECTING.set(collector)
        try:
            yield collector.jobs
        finally:
            collector.open = False  # a late enqueue goes to the stream, never into a lost list
            _COLLECTING.reset(token)

    async def requeue(self, job: Job) -> None:
        """Stream a collected job after all (its inline run failed): the workers retry it, and
        that run counts as its first attempt."""
        retry = job.model_copy(update={"prior_attempts": job.prior_attempts + 1})
        try:
            await self._batch.xadd(STREAMS[retry.lane], retry.model_dump_json())
        except RedisError as exc:
            raise QueueUnavailable(str(type(exc).__name__)) from exc

    async def ensure_group(self, lane: Lane | None = None) -> None:
        """The consumer group on `lane`'s stream (on both when None)."""
        for each in (lane,) if lane else LANES:
            try:
                await self.redis.xgroup_create(STREAMS[each], GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def enqueue(
        self,
        kind: str,
        payload: BaseModel,
        *,
        dedupe_key: str | None = None,
        notify: ReplyTo | None = None,
        lane: Lane = "normal",
        give_up_after: float | None = None,
    ) -> str | None:
        """Queue a job on `lane` (interactive: clicks, modals, approval decisions — anything a
        person waits on that calls no model); None when `dedupe_key` was already queued.
        Raises QueueUnavailable, or TimeoutError past `give_up_after` seconds (a job with no
        dedupe key only; the job may still be queued)."""
        job = Job(
            id=new_job_id(),
            kind=kind,
            payload=payload.model_dump(mode="json"),
            notify=notify,
            enqueued_at=time.time(),
            lane=lane,
        )
        collector = _COLLECTING.get()
        if collector is not None and collector.open:
            return await self._collect(collector, job, dedupe_key)
        try:
            if dedupe_key:
                added = await self._enqueue(
                    keys=[STREAMS[lane], dedupe(dedupe_key)],
                    args=[job.id, DEDUPE_TTL_S, job.model_dump_json()],
                )
            else:
                added = await self._batch.xadd(STREAMS[lane], job.model_dump_json(), give_up_after)
        except RedisError as exc:
            metrics.job_enqueued(kind, "unavailable")
            raise QueueUnavailable(str(type(exc).__name__)) from exc
        if added is None:
            metrics.job_enqueued(kind, "duplicate")
            return None
        metrics.job_enqueued(kind, "queued")
        return job.id

    async def _collect(self, collector: _Collector, job: Job, dedupe_key: str | None) -> str | None:
        if dedupe_key:
            try:
                claimed = await self._claim(
                    keys=[dedupe(dedupe_key)], args=[collector.owner, DEDUPE_TTL_S]
                )
            except RedisError as exc:
                metrics.job_enqueued(job.kind, "unavailable")
                raise QueueUnavailable(str(type(exc).__name__)) from exc
            if not claimed:
                metrics.job_enqueued(job.kind, "duplicate")
                return None
        collector.jobs.append(job)
        metrics.job_enqueued(job.kind, "inline")
        return job.id

    async def depth(self, lane: Lane | None = None) -> int:
        """Jobs waiting or running (in `lane`, or in both): entries the group has not acked."""
        total = 0
        for each in (lane,) if lane else LANES:
            try:
                groups = await self.redis.xinfo_groups(STREAMS[each])
            except ResponseError:
                continue
            for group in groups:
                if group["name"] == GROUP:
                    lag = group.get("lag") or 0
                    total += int(group.get("pending", 0)) + int(lag)
        return total

    async def dead_letters(self, count: int = 100) -> list[dict[str, str]]:
        entries: Any = await self.redis.xrange(DEAD, count=count)
        return [dict(fields) for _, fields in entries]


@dataclass
class Worker:
    """One consumer of the group on each lane. Runs up to `concurrency` normal jobs and
    `interactive_concurrency` interactive ones at once, as asyncio tasks."""

    queue: JobQueue
    handler: Handler
    on_dead: DeadLetterHook | None = None
    name: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    clock: Clock = SYSTEM
    # Awaited before each read; may cap how many jobs it takes (e.g. AcksFirst.wait in serve).
    before_read: Callable[[Lane], Awaitable[int | None]] | None = None
    _running: dict[tuple[Lane, str], asyncio.Task[None]] = field(default_factory=dict)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def redis(self) -> aioredis.Redis:
        return self.queue.redis

    @property
    def config(self) -> QueueConfig:
        return self.queue.config

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Consume both lanes until stopped. Survives Redis outages: it waits and picks up
        where it was."""
        lanes = [asyncio.create_task(self._run_lane(lane)) for lane in LANES]
        try:
            await asyncio.gather(*lanes)
        finally:  # one lane failing (or being cancelled) stops the other too
            for task in lanes:
                task.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)
            await self._drain()

    async def _run_lane(self, lane: Lane) -> None:
        backoff = 0.2
        last_reclaim: float | None = None
        while not self._stop.is_set():
            try:
                await self.queue.ensure_group(lane)
                now = self.clock.monotonic()
                if last_reclaim is None or now - last_reclaim >= self.config.visibility_timeout / 2:
                    last_reclaim = now
                    await self._reclaim(lane)
                await self._read(lane)
                backoff = 0.2
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning(
                    "worker cannot reach redis; retrying",
                    extra={
                        "worker": self.name,
                        "lane": lane,
                        "error": type(exc).__name__,
                        "wait_s": backoff,
                    },
                )
                await sleep_unless(self.clock, self._stop, backoff)
                backoff = min(backoff * 2, 5.0)

    def _capacity(self, lane: Lane) -> int:
        if lane == "interactive":
            return max(1, self.config.interactive_concurrency)
        return self.config.concurrency

    def _lane_tasks(self, lane: Lane) -> list[asyncio.Task[None]]:
        return [task for (each, _), task in self._running.items() if each == lane]

    async def _free_slots(self, lane: Lane) -> int:
        capacity = self._capacity(lane)
        while len(tasks := self._lane_tasks(lane)) >= capacity and not self._stop.is_set():
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        return capacity - len(self._lane_tasks(lane))

    async def _read(self, lane: Lane) -> None:
        slots = await self._free_slots(lane)
        if slots <= 0:
            return
        if self.before_read is not None:
            cap = await self.before_read(lane)
            slots = slots if cap is None else max(1, min(slots, cap))
        response: Any = await self.redis.xreadgroup(
            GROUP, self.name, {STREAMS[lane]: ">"}, count=slots, block=self.config.block_ms
        )
        for _stream, entries in response or []:
            for message_id, fields in entries:
                self._start(lane, message_id, fields)

    async def _reclaim(self, lane: Lane) -> None:
        """Take over jobs whose holder stopped sending heartbeats (dead or hung)."""
        slots = self._capacity(lane) - len(self._lane_tasks(lane))
        if slots <= 0:
            return
        idle_ms = int(self.config.visibility_timeout * 1000)
        result: Any = await self.redis.xautoclaim(
            STREAMS[lane], GROUP, self.name, min_idle_time=idle_ms, start_id="0-0", count=slots
        )
        for message_id, fields in result[1]:
            if (lane, message_id) in self._running or not fields:
                continue
            log.info(
                "reclaimed job",
                extra={"message_id": message_id, "lane": lane, "worker": self.name},
            )
            metrics.JOBS_RECLAIMED.inc()
            self._start(lane, message_id, fields)

    def _start(self, lane: Lane, message_id: str, fields: dict[str, str]) -> None:
        task = asyncio.create_task(self._process(lane, message_id, fields))
        self._running[(lane, message_id)] = task
        task.add_done_callback(lambda _t: self._running.pop((lane, message_id), None))

    async def _process(self, lane: Lane, message_id: str, fields: dict[str, str]) -> None:
        try:
            job = Job.model_validate_json(fields["job"])
        except (KeyError, ValueError):
            log.error(
                "malformed job dropped to dead letters",
                extra={"message_id": message_id, "lane": lane},
            )
            await self._dead_letter(lane, message_id, fields.get("job", ""), "malformed job", None)
            return
        done_key = job_done(job.id)
        attempts = LANE_ATTEMPTS[lane]
        pipe = self.redis.pipeline(transaction=False)  # one round trip for both questions
        pipe.exists(done_key)
        pipe.hincrby(attempts, message_id, 1)
        done, tries = await pipe.execute()
        if done:
            pipe = self.redis.pipeline(transaction=False)
            pipe.xack(STREAMS[lane], GROUP, message_id)
            pipe.hdel(attempts, message_id)
            await pipe.execute()
            return
        attempt = job.prior_attempts + int(tries)
        if attempt > self.config.max_attempts:
            await self._dead_letter(lane, message_id, fields["job"], "too many attempts", job)
            return
        heartbeat = asyncio.create_task(self._heartbeat(lane, message_id))
        started = time.perf_counter()
        CURRENT_JOB.set(job)  # this task's own context: one job per task
        try:
            await self.handler(job)
        except Exception as exc:
            outcome = self._failed(job, message_id, attempt, exc)
            metrics.JOBS_DONE.labels(kind=job.kind, outcome=outcome).inc()
            if outcome == "dead":
                await self._dead_letter(lane, message_id, fields["job"], type(exc).__name__, job)
            return
        finally:
            heartbeat.cancel()
            metrics.JOB_SECONDS.labels(kind=job.kind).observe(time.perf_counter() - started)
        await self._complete(lane, message_id, done_key)
        metrics.JOBS_DONE.labels(kind=job.kind, outcome="ok").inc()

    def _failed(self, job: Job, message_id: str, attempt: int, exc: Exception) -> str:
        final = attempt >= self.config.max_attempts
        log.error(
            "job failed",
            exc_info=exc,
            extra={
                "job_id": job.id,
                "kind": job.kind,
                "lane": job.lane,
                "attempt": attempt,
                "max_attempts": self.config.max_attempts,
                "final": final,
            },
        )
        # A non-final failure stays pending; _reclaim retries it after the visibility timeout.
        return "dead" if final else "retry"

    async def _complete(self, lane: Lane, message_id: str, done_key: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(done_key, "1", ex=DONE_TTL_S)
        pipe.xack(STREAMS[lane], GROUP, message_id)
        pipe.hdel(LANE_ATTEMPTS[lane], message_id)
        await pipe.execute()

    async def _heartbeat(self, lane: Lane, message_id: str) -> None:
        """Reset the job's idle time so nobody reclaims it while we are still working."""
        interval = max(self.config.visibility_timeout / 3, 0.05)
        while True:
            await self.clock.sleep(interval)
            with contextlib.suppress(RedisError):
                await self.redis.xclaim(
                    STREAMS[lane],
                    GROUP,
                    self.name,
                    min_idle_time=0,
                    message_ids=[message_id],
                    justid=True,
                )

    async def _dead_letter(
        self, lane: Lane, message_id: str, raw: str, error: str, job: Job | None
    ) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(
            DEAD,
            {"job": raw, "error": error, "message_id": message_id, "lane": lane, "at": time.time()},
        )
        pipe.xack(STREAMS[lane], GROUP, message_id)
        pipe.hdel(LANE_ATTEMPTS[lane], message_id)
        await pipe.execute()
        metrics.JOBS_DEAD.inc()
        log.error(
            "job dead-lettered", extra={"message_id": message_id, "lane": lane, "error": error}
        )
        if job is not None and self.on_dead is not None:
            try:
                await self.on_dead(job, error)
            except Exception:
                log.exception("could not tell the user about a dead job", extra={"job_id": job.id})

    async def _drain(self) -> None:
        """On stop, let running jobs finish briefly; unfinished ones are reclaimed elsewhere."""
        if self._running:
            await asyncio.wait(list(self._running.values()), timeout=5)
        for task in list(self._running.values()):
            task.cancel()
