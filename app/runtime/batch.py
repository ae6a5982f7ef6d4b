"""Stream appends from concurrent callers, sent to Redis in one round trip."""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

# One command for the whole batch: redis-py's per-command cost (packing, parsing, a pipeline's
# bookkeeping) is paid once, not per job. KEYS[i] is the stream of the job in ARGV[i].
_XADD_ALL = """
local ids = {}
for i = 1, #KEYS do ids[i] = redis.call('XADD', KEYS[i], '*', 'job', ARGV[i]) end
return ids
"""


GROUP_SPAN_S = 0.01  # callers whose deadlines share one timer


def _expire(group: list[asyncio.Future[str]]) -> None:
    for added in group:
        if not added.done():
            added.set_exception(TimeoutError())


class XaddBatch:
    """XADDs issued by concurrent callers, sent together in one pipeline.

    The first caller starts a flush task; everyone who arrives before it runs (or while its round
    trip is in flight) rides in the same or the next pipeline. Each caller gets its own entry id,
    or the Redis error that stopped the pipeline.

    Under a burst, a pipeline leaves at most every `window` seconds (like Nagle's algorithm):
    each round trip costs serve a socket write and a read, and Redis a wake-up, whether it
    carries one job or fifty, and those costs land on every request waiting for its answer. A
    lone request (nothing sent within the window) goes at once.
    """

    def __init__(self, redis: aioredis.Redis, window: float = 0.002) -> None:
        self.redis = redis
        self._xadd_all = redis.register_script(_XADD_ALL)
        self.window = window
        self._waiting: list[tuple[str, str, asyncio.Future[str]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._last_sent = 0.0
        self._expiring: list[asyncio.Future[str]] | None = None  # the youngest deadline group
        self._expiring_since = 0.0

    async def xadd(self, stream: str, job_json: str, give_up_after: float | None = None) -> str:
        """The new entry's id. With `give_up_after`, TimeoutError once that many seconds have
        passed without Redis answering (less by up to GROUP_SPAN_S); the XADD itself is not
        withdrawn, and may still land."""
        loop = asyncio.get_running_loop()
        added: asyncio.Future[str] = loop.create_future()
        self._waiting.append((stream, job_json, added))
        if give_up_after is not None:
            self._expire_with_group(loop, added, give_up_after)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await added

    def _expire_with_group(
        self, loop: asyncio.AbstractEventLoop, added: asyncio.Future[str], after: float
    ) -> None:
        """One timer for every caller that arrives within GROUP_SPAN_S, not one each: a timer
        per request (asyncio.timeout) was a twentieth of the front door's CPU."""
        now = loop.time()
        if self._expiring is None or now - self._expiring_since > GROUP_SPAN_S:
            self._expiring, self._expiring_since = [], now
            loop.call_later(after - GROUP_SPAN_S, _expire, self._expiring)
        self._expiring.append(added)

    async def _flush(self) -> None:
        try:
            while self._waiting:
                wait = self._last_sent + self.window - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                batch, self._waiting = self._waiting, []
                self._last_sent = time.monotonic()
                await self._send(batch)
        finally:  # cancelled (the process is stopping): nobody may be left waiting forever
            for _, _, added in self._waiting:
                added.cancel()

    async def _send(self, batch: list[tuple[str, str, asyncio.Future[str]]]) -> None:
        try:
            ids = await self._xadd_all(
                keys=[stream for stream, _, _ in batch], args=[job for _, job, _ in batch]
            )
        except Exception as exc:
            abandoned = 0
            for _, _, added in batch:
                if added.done():
                    abandoned += 1  # answered already (Redis was slow): nobody else will know
                else:
                    added.set_exception(exc)
            if abandoned:
                log.warning(
                    "jobs not queued after their requests were answered",
                    extra={"jobs": abandoned, "error": type(exc).__name__},
                )
            return
        except BaseException:
            for _, _, added in batch:
                added.cancel()
            raise
        for (_, _, added), entry_id in zip(batch, ids, strict=True):
            if not added.done():  # its caller may have given up (client disconnected)
                added.set_result(entry_id)
