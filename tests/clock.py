"""A clock a test moves by hand, for the worker, the timer poller and the runtime.

`ManualClock` reads the system's time plus whatever the test has added with `advance`, so code
that reads the real time elsewhere (a draft's submission time, say) stays consistent with it.
A sleeper wakes when its deadline passes on this clock: at once when the test advances past it.

Redis measures a pending job's idle time on its own clock, which no test can move; `advance`
therefore also ages every pending job in the queue by the same amount (one atomic script), as
if the Redis server's time had passed too. Nothing else in Redis is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import redis.asyncio as aioredis

from app.runtime.keys import GROUP, STREAMS

# Every pending entry's idle time grows by ARGV[2] ms; owner and delivery count stay as they were.
_AGE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local ok, entries = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1], '-', '+', 100000)
if not ok then return 0 end
for _, e in ipairs(entries) do
  redis.call('XCLAIM', KEYS[1], ARGV[1], e[2], 0, e[1],
             'IDLE', tonumber(e[3]) + tonumber(ARGV[2]), 'JUSTID')
end
return #entries
"""


class ManualClock:
    def __init__(self, redis: aioredis.Redis | None = None) -> None:
        self.redis = redis  # whose queue ages with this clock
        self.skew = 0.0
        self._moved = asyncio.Event()
        self._slept = asyncio.Event()
        self._deadlines: list[float] = []

    def time(self) -> float:
        return time.time() + self.skew

    def monotonic(self) -> float:
        return time.monotonic() + self.skew

    async def sleep(self, seconds: float) -> None:
        deadline = self.monotonic() + seconds
        self._deadlines.append(deadline)
        self._slept.set()
        try:
            while (left := deadline - self.monotonic()) > 0:
                moved = self._moved
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(moved.wait(), left)
        finally:
            self._deadlines.remove(deadline)

    async def advance(self, seconds: float) -> None:
        """Move time on by `seconds`: for Redis's pending jobs first, then for every sleeper."""
        if self.redis is not None:
            for stream in STREAMS.values():  # both lanes' pending jobs
                await self.redis.eval(_AGE, 1, stream, GROUP, int(seconds * 1000))
        self.skew += seconds
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()

    async def sleepers(self, count: int, timeout: float = 10.0) -> None:
        """Wait (in real time, bounded) until `count` sleepers wait for a moment still to come:
        after an `advance`, this is how a test knows the woken ones did their work."""

        async def enough() -> None:
            while sum(d > self.monotonic() for d in self._deadlines) < count:
                self._slept.clear()
                await self._slept.wait()

        await asyncio.wait_for(enough(), timeout)
