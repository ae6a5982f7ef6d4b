"""Acknowledgements before new work, in a process that both answers Slack and runs jobs.

Slack gives an app 3 seconds, and `serve` with in-process workers shares one event loop between
the requests it is answering and the jobs it is running. While any request is being answered,
the in-process workers start no new job (jobs already running go on), for at most `max_wait`
at a time so that a steady stream of requests can never starve the work.
"""

from __future__ import annotations

import asyncio
import contextlib


class AcksFirst:
    def __init__(self, max_wait: float = 0.05) -> None:
        self.max_wait = max_wait
        self._answering = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self._answering += 1
        self._idle.clear()

    def leave(self) -> None:
        self._answering -= 1
        if self._answering <= 0:
            self._answering = 0
            self._idle.set()

    async def wait(self) -> None:
        """Until no request is being answered, or `max_wait` has passed."""
        if self._idle.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self.max_wait)
