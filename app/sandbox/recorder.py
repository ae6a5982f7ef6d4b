"""What the app did to the sandbox, for assertions.

Every Web API call that reached a method is a :class:`CallRecord`. A change signal is raised on
every recorded call and workspace mutation, so :meth:`Recorder.wait_for` re-checks its
predicate as soon as something happens instead of sleeping a fixed amount.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
JsonDict = dict[str, Any]


@dataclass(frozen=True)
class CallRecord:
    """One Web API call as the sandbox executed it."""

    method: str
    args: JsonDict
    response: JsonDict
    status: int
    at: float

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    def summary(self) -> str:
        keys = ("channel", "user", "ts", "thread_ts", "text", "view_id", "user_id")
        shown = {k: _short(self.args[k]) for k in keys if k in self.args}
        outcome = "ok" if self.ok else self.response.get("error")
        return f"{self.method} {shown} -> {outcome}"


def _short(value: Any, limit: int = 60) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Recorder:
    """Call log, in-flight counters and the change signal ``wait_for`` listens to."""

    def __init__(self) -> None:
        self.calls: list[CallRecord] = []
        self._in_flight: Counter[str] = Counter()
        self._changed = asyncio.Event()

    def changed(self) -> None:
        """Wake every ``wait_for`` so it re-evaluates its predicate."""
        self._changed.set()

    def record(self, method: str, args: JsonDict, response: JsonDict, status: int = 200) -> None:
        self.calls.append(CallRecord(method, args, response, status, time.monotonic()))
        self.changed()

    def enter(self, method: str) -> None:
        self._in_flight[method] += 1
        self.changed()

    def leave(self, method: str) -> None:
        self._in_flight[method] -= 1
        self.changed()

    def in_flight(self, method: str | None = None) -> int:
        """Calls currently inside the sandbox (all methods when ``method`` is None)."""
        if method is None:
            return sum(self._in_flight.values())
        return self._in_flight[method]

    def select(self, method: str | None = None) -> list[CallRecord]:
        return [c for c in self.calls if method is None or c.method == method]

    async def wait_for(
        self,
        predicate: Callable[[], T | Awaitable[T | None] | None],
        timeout: float,
        describe: Callable[[], str],
    ) -> T:
        """Return the predicate's first truthy value; AssertionError with context on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._changed.clear()
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"condition not met within {timeout}s\n{describe()}")
            # Also re-check periodically: predicates may look at state outside the sandbox.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))
