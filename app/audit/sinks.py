"""Forwarding the audit log to the sinks the operator configures, at least once.

Each sink has a durable cursor in Redis (`{p}:audit:sink:{name}:cursor`: the stream id and the
`id` of the last event it took), so a sink that is down loses nothing: when it returns, it gets
every event after its cursor, oldest first, each with its `id` for the receiver to drop the
copies a retry can bring (a batch that arrived but whose answer was lost is sent again).

Every worker process runs a forwarder per sink, but a lease (`{p}:audit:sink:{name}:lease`, SET
with an expiry, renewed each round) lets one send at a time; the cursor moves only while its
writer still holds the lease, so a forwarder that stalled past its lease can never move it back.
A batch's timeout is well inside the lease, so a stalled sender's batch is over before another
process may start. Retries back off on the runtime's clock; `steward_audit_sink_lag_events`
says how far behind each sink is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.audit.keys import AuditKeys
from app.audit.scripts import RELEASE_LUA
from app.audit.sink_formats import SinkEvent
from app.audit.sink_kinds import OtlpLogs, Sink, SinkDown, SplunkHec, Syslog
from app.runtime.clock import SYSTEM, Clock, sleep_unless
from app.runtime.metrics import SINK_LAG
from app.runtime.queue import Worker
from app.runtime.services import Services
from app.runtime.settings import Settings

log = logging.getLogger(__name__)

BATCH = 200  # events per request: HEC's default limit is 1 MB a request, events stay far below 5 KB
LEASE_MS = 30_000
IDLE_S = 1.0  # caught up, or another process holds the lease: look again this much later
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 60.0

# KEYS: lease. ARGV: token, ms. Take the lease when free, renew it when ours; 0 when another's.
LEASE_LUA = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
"""

# KEYS: lease, cursor. ARGV: token, stream id, event id. Moves the cursor only for the holder.
ADVANCE_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'stream_id', ARGV[2], 'seq', ARGV[3])
return 1
"""


class LeaseLost(RuntimeError):
    """Another process took the sink's lease while this one was sending: the batch may have
    gone twice (at least once), and the cursor stays where the holder puts it."""


def backoff(failures: int) -> float:
    """Seconds to wait after `failures` failed rounds in a row: 1, 2, 4 … 60. No jitter: the
    lease means one sender per sink, so there is no herd to spread."""
    return min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, failures - 1))


class Forwarder:
    """Sends one sink everything after its cursor, a batch at a time."""

    def __init__(
        self,
        redis: aioredis.Redis,
        sink: Sink,
        *,
        keys: AuditKeys | None = None,
        clock: Clock = SYSTEM,
        batch: int = BATCH,
        lease_ms: int = LEASE_MS,
    ) -> None:
        self.redis = redis
        self.sink = sink
        self.keys = keys or AuditKeys()
        self.clock = clock
        self.batch = batch
        self.lease_ms = lease_ms
        self.token = uuid.uuid4().hex
        self.failures = 0  # failed rounds in a row
        self.lease_key = self.keys.sink_lease(sink.name)
        self.cursor_key = self.keys.sink_cursor(sink.name)
        self._lease = redis.register_script(LEASE_LUA)
        self._advance = redis.register_script(ADVANCE_LUA)
        self._release = redis.register_script(RELEASE_LUA)

    async def acquire(self) -> bool:
        """Take or renew the lease; False while another process holds it."""
        return bool(await self._lease(keys=[self.lease_key], args=[self.token, self.lease_ms]))

    async def release(self) -> None:
        await self._release(keys=[self.lease_key], args=[self.token])

    async def cursor(self) -> tuple[str | None, int]:
        """(stream id, event id) of the last event the sink took; (None, 0) before its first."""
        raw = cast(dict[str, str], await self.redis.hgetall(self.cursor_key))
        return raw.get("stream_id"), int(raw.get("seq", 0))

    async def lag(self) -> int:
        return await sink_lag(self.redis, self.keys, self.sink.name)

    async def pump(self) -> int:
        """Send the batch after the cursor and move the cursor past it; returns its size (0:
        caught up). Raises SinkDown (nothing moved) or LeaseLost. Call with the lease held."""
        after, _ = await self.cursor()
        low = "(" + after if after else "-"
        rows = cast(
            list[tuple[str, dict[str, str]]],
            await self.redis.xrange(self.keys.stream, low, "+", count=self.batch),
        )
        if rows:
            events = [SinkEvent.from_entry(sid, fields["json"]) for sid, fields in rows]
            await self.sink.send(events)
            last = events[-1]
            moved = await self._advance(
                keys=[self.lease_key, self.cursor_key],
                args=[self.token, last.stream_id, last.id],
            )
            if not moved:
                raise LeaseLost(f"{self.sink.name}: lease lost while sending")
        await self.report_lag()
        return len(rows)

    async def report_lag(self) -> None:
        SINK_LAG.labels(sink=self.sink.name).set(await self.lag())

    async def step(self) -> float:
        """One round (lease, then one batch); returns the seconds to wait before the next."""
        try:
            if not await self.acquire():
                return IDLE_S
            sent = await self.pump()
        except SinkDown as exc:
            self.failures += 1
            delay = backoff(self.failures)
            with contextlib.suppress(RedisError, OSError):
                await self.report_lag()  # a sink that is down is when its lag matters
            log.warning(
                "audit sink down",
                extra={"sink": self.sink.name, "error": str(exc), "failures": self.failures,
                       "retry_in_s": delay},
            )  # fmt: skip
            return delay
        except LeaseLost as exc:
            log.warning("audit sink lease lost", extra={"sink": self.sink.name, "error": str(exc)})
            return IDLE_S
        except (RedisError, OSError) as exc:
            log.warning(
                "audit sink cannot reach redis",
                extra={"sink": self.sink.name, "error": type(exc).__name__},
            )
            return IDLE_S
        except Exception:  # an event that will not encode, a bug: say so, retry, never die
            self.failures += 1
            log.exception("audit sink round failed", extra={"sink": self.sink.name})
            return backoff(self.failures)
        if self.failures:
            log.info("audit sink back", extra={"sink": self.sink.name, "after": self.failures})
            self.failures = 0
        return 0.0 if sent else IDLE_S

    async def run(self, stopped: Callable[[], bool], stop: asyncio.Event) -> None:
        """Forward until `stopped()`; `stop` being set cuts a wait short."""
        try:
            while not stopped():
                delay = await self.step()
                if delay:
                    await sleep_unless(self.clock, stop, delay)
        finally:
            await self.sink.close()
            # Let another process take over at once; unreachable, the lease expires on its own.
            with contextlib.suppress(RedisError, OSError):
                await self.release()


async def sink_lag(redis: aioredis.Redis, keys: AuditKeys, name: str) -> int:
    """Events in the log the sink `name` has not taken (archived ones are no longer owed)."""
    pipe = redis.pipeline(transaction=False)
    pipe.hget(keys.head, "seq")
    pipe.hget(keys.anchor, "seq")
    pipe.hget(keys.sink_cursor(name), "seq")
    head, anchor, seq = cast(list[str | None], await pipe.execute())
    return max(0, int(head or 0) - max(int(anchor or 0), int(seq or 0)))


def configured_names(settings: Settings) -> list[str]:
    """The names of the sinks the settings configure (what their cursors are keyed by)."""
    urls = {
        "splunk": settings.steward_audit_splunk_url,
        "syslog": settings.steward_audit_syslog_url,
        "otlp": settings.steward_audit_otlp_url,
    }
    return [name for name, url in urls.items() if url]


async def taken_by_all(redis: aioredis.Redis, keys: AuditKeys, names: list[str]) -> int | None:
    """The id of the last event every named sink has taken (None: no sinks), which retention
    never trims past: a sink that is down loses nothing, even to the archive."""
    if not names:
        return None
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.hget(keys.sink_cursor(name), "seq")
    return min(int(seq or 0) for seq in cast(list[str | None], await pipe.execute()))


def configured_sinks(settings: Settings) -> list[Sink]:
    """The sinks the settings name, each at most once (see the README's settings table)."""
    sinks: list[Sink] = []
    if settings.steward_audit_splunk_url:
        settings.require("STEWARD_AUDIT_SPLUNK_TOKEN")
        token = settings.secret("STEWARD_AUDIT_SPLUNK_TOKEN")
        sinks.append(
            SplunkHec(settings.steward_audit_splunk_url, token, settings.steward_audit_splunk_index)
        )
    if settings.steward_audit_syslog_url:
        sinks.append(
            Syslog(settings.steward_audit_syslog_url, settings.steward_audit_syslog_ca_file)
        )
    if settings.steward_audit_otlp_url:
        sinks.append(OtlpLogs(settings.steward_audit_otlp_url, settings.otlp_headers))
    return sinks


def start_sinks(
    services: Services,
    spawn: Callable[[Callable[[], Coroutine[Any, Any, None]]], None],
    workers: Sequence[Worker],
    clock: Clock = SYSTEM,
) -> list[Forwarder]:
    """Run a forwarder per configured sink beside `workers`, until they are all told to stop."""
    forwarders = [
        Forwarder(services.redis, sink, keys=services.audit.keys, clock=clock)
        for sink in configured_sinks(services.settings)
    ]
    for forwarder in forwarders:

        async def run(f: Forwarder = forwarder) -> None:
            stop = workers[0]._stop if workers else asyncio.Event()
            await f.run(lambda: not workers or all(w._stop.is_set() for w in workers), stop)

        spawn(run)
    return forwarders
