"""Acknowledgements before new work, in a process that both answers Slack and runs jobs.

Slack gives an app 3 seconds, and `serve` with in-process workers shares one event loop between
the requests it is answering and the jobs it is running. While requests are being answered, the
in-process workers start no new job (jobs already running go on). "Being answered" lasts until
the front door has been quiet for `quiet` seconds: under a burst, requests overlap only now and
then, and a worker woken by every momentary lull would start a handful of jobs each time. A
peer opening a new connection per request leaves gaps of several milliseconds between answers
while its next requests are still being connected and parsed, so `quiet` is 30 ms, not 10.

A worker waits at most `max_wait` at a time, so a steady stream of requests can never starve
the work; one that stops waiting while requests are still coming takes one job, not a handful:
under a burst the jobs trickle on and the loop stays free for the answers. The interactive
lane's jobs (a click waiting on its modal, whose `trigger_id` lasts 3 s) trickle every
`max_wait`; the normal lane's (a reply, a summary) every `normal_wait`: each such job spends a
millisecond or two of the loop in one go, and at 50 ms they were a sixth of Steward's ack p99
over a trivial app's in `bench/ack.py --versus-trivial`.
"""

from __future__ import annotations

import asyncio
import contextlib

from app.runtime.keys import Lane


class AcksFirst:
    def __init__(self, max_wait: float = 0.05, quiet: float = 0.03, normal_wait: float = 0.25):
        self.max_wait = max_wait
        self.normal_wait = normal_wait
        self.quiet = quiet
        self._answering = 0
        self._last_leave = 0.0
        self._idle = asyncio.Event()
        self._idle.set()
        self._timer: asyncio.TimerHandle | None = None

    def enter(self) -> None:
        self._answering += 1
        self._idle.clear()

    def leave(self) -> None:
        self._answering = max(0, self._answering - 1)
        if self._answering == 0:
            loop = asyncio.get_running_loop()
            self._last_leave = loop.time()
            if self._timer is None:  # one timer at a time, however many requests come and go
                self._timer = loop.call_later(self.quiet, self._settle)

    def _settle(self) -> None:
        """Idle once nothing has been answered for `quiet` seconds."""
        self._timer = None
        if self._answering:
            return  # the request being answered re-arms the timer when it is done
        loop = asyncio.get_running_loop()
        remaining = self._last_leave + self.quiet - loop.time()
        if remaining > 0:
            self._timer = loop.call_later(remaining, self._settle)
            return
        self._idle.set()

    async def wait(self, lane: Lane = "interactive") -> int | None:
        """Until the front door is quiet (None: take as many jobs as there are slots), or the
        lane's wait has passed with requests still coming (1: take one job)."""
        if self._idle.is_set():
            return None
        limit = self.max_wait if lane == "interactive" else self.normal_wait
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), limit)
        return None if self._idle.is_set() else 1
