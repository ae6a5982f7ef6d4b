"""The clock the worker and the timer poller read: the system's, or one a test moves by hand.

Everything that waits for time to pass (a heartbeat, a reclaim, a retry's backoff, a timer
coming due) asks a `Clock`, so a test can advance time instead of sleeping through it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch (what timers are scheduled in)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (what intervals are measured on)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM = SystemClock()


async def sleep_unless(clock: Clock, stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds` on `clock`, or less if `stop` is set meanwhile."""
    if stop.is_set():
        return
    sleeping = asyncio.ensure_future(clock.sleep(seconds))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({sleeping, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeping.cancel()
        stopping.cancel()
