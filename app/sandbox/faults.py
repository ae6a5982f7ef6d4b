"""Fault injection for the sandbox Web API.

Tests use this to make Slack misbehave the ways it does in production: 429 with
``Retry-After``, 5xx, slow answers, or a specific error. A fault is consumed when it fires so a
test can say "the first call is rate limited, the retry succeeds".

Two kinds make the call take effect and then lose its answer, as Slack can: the post is in the
channel, yet the client sees an HTTP 500 (``applied_then_error``) or no answer before its timeout
(``applied_then_hang``). Source: slackapi/slack-api-specs#10 ("the application using the slack
API successfully sent a message, but ... the connection got interrupted during the request, thus
resulting in the application considering the post as a failure even though the slack API
received and processed the request successfully"); openclaw/openclaw#22780 (a chat.postMessage
whose "original request succeeds but the response is lost/slow", re-sent by the SDK's retry,
shows twice in the channel). A 429 is different: it means Slack did nothing
(docs.slack.dev/apis/web-api/rate-limits), which is why the ``ratelimit`` kind never applies the
call.

The method name ``response_url`` arms a fault on the response URLs too (``ratelimit``,
``server_error`` and ``error`` apply there).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal[
    "ratelimit", "server_error", "delay", "error", "applied_then_error", "applied_then_hang"
]


@dataclass
class Fault:
    """One armed fault. ``times=None`` means it fires on every matching call."""

    method: str
    kind: FaultKind
    times: int | None = 1
    retry_after: int = 1
    delay: float = 2.0
    status: int = 500
    error: str = "fatal_error"
    when: Callable[[dict[str, Any]], bool] | None = None
    until: asyncio.Event | None = None  # `delay`: wait for this instead of `delay` seconds
    fired: int = 0

    def matches(self, method: str, args: dict[str, Any]) -> bool:
        if self.method not in ("*", method):
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        return self.when is None or bool(self.when(args))


@dataclass(frozen=True)
class FiredFault:
    """A record that a fault fired, so tests can assert the app actually hit it."""

    method: str
    kind: FaultKind
    at: float


@dataclass
class Faults:
    """The set of armed faults; ``add`` arms one, ``take`` is called per Web API call."""

    armed: list[Fault] = field(default_factory=list)
    fired: list[FiredFault] = field(default_factory=list)

    def add(
        self,
        method: str = "*",
        kind: FaultKind = "ratelimit",
        *,
        times: int | None = 1,
        retry_after: int = 1,
        delay: float = 2.0,
        status: int = 500,
        error: str = "fatal_error",
        when: Callable[[dict[str, Any]], bool] | None = None,
        until: asyncio.Event | None = None,
    ) -> Fault:
        """Arm a fault for ``method`` (``"*"`` for any).

        ``ratelimit`` answers HTTP 429 + ``Retry-After: retry_after``; ``server_error`` answers
        HTTP ``status``; ``delay`` sleeps ``delay`` seconds before the call takes effect (if the
        client disconnects meanwhile the call never happens); ``error`` answers
        ``{"ok": false, "error": error}``; ``applied_then_error`` lets the call take effect and
        then answers HTTP ``status`` as ``server_error`` does; ``applied_then_hang`` lets it take
        effect and holds the answer ``delay`` seconds (longer than the client waits, so the
        client times out). ``when`` narrows it to calls whose args match. A ``delay`` with
        ``until`` holds the calls until the test sets that event (no clock involved), e.g. to
        see how many are in flight at once.
        """
        fault = Fault(
            method=method,
            kind=kind,
            times=times,
            retry_after=retry_after,
            delay=delay,
            status=status,
            error=error,
            when=when,
            until=until,
        )
        self.armed.append(fault)
        return fault

    def take(self, method: str, args: dict[str, Any]) -> Fault | None:
        """The first armed fault matching this call, marked as fired."""
        for fault in self.armed:
            if fault.matches(method, args):
                fault.fired += 1
                self.fired.append(FiredFault(method=method, kind=fault.kind, at=time.monotonic()))
                return fault
        return None

    def clear(self) -> None:
        self.armed.clear()
