"""The kill switch: admins pause all new AI calls in every process, within a second.

The state is one Redis key, so checking it before each AI call is a single GET. Every change is
also published on the `steward:pause` pub/sub channel, so long-running loops (workers, the Slack
listener) can react at once instead of polling. The key is the source of truth: a process that
missed a message (it was restarting) still sees the pause on its next `state()`.

Redis: key `steward:pause:state` (JSON {by, reason, at}; absent when running), pub/sub channel
`steward:pause` (JSON {paused, by, reason, at}).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from app.governance.keys import PAUSE_CHANNEL, PAUSE_STATE


@dataclass(frozen=True)
class PauseState:
    by: str  # the admin's user ID
    reason: str
    at: datetime  # UTC

    def to_json(self) -> str:
        return json.dumps(asdict(self) | {"at": self.at.isoformat()})

    @classmethod
    def from_json(cls, text: str | bytes) -> PauseState:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PauseState:
        at = datetime.fromisoformat(data["at"])
        return cls(by=data["by"], reason=data.get("reason", ""), at=at)


@dataclass(frozen=True)
class PauseEvent:
    """One message from the pub/sub channel: `state` is None when AI was resumed."""

    paused: bool
    by: str
    state: PauseState | None


class PauseSwitch:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def pause(self, by: str, reason: str = "", now: datetime | None = None) -> PauseState:
        """Pause AI everywhere. Pausing again replaces the reason (and who/when)."""
        state = PauseState(by=by, reason=reason, at=now or datetime.now(UTC))
        message = json.dumps({"paused": True, **json.loads(state.to_json())})
        async with self.redis.pipeline(transaction=True) as pipe:  # state and news together
            pipe.set(PAUSE_STATE, state.to_json())
            pipe.publish(PAUSE_CHANNEL, message)
            await pipe.execute()
        return state

    async def resume(self, by: str) -> PauseState | None:
        """Resume AI; returns the pause that was ended, or None if AI was not paused."""
        message = json.dumps({"paused": False, "by": by, "at": datetime.now(UTC).isoformat()})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.getdel(PAUSE_STATE)
            pipe.publish(PAUSE_CHANNEL, message)
            previous, _ = await pipe.execute()
        return PauseState.from_json(previous) if previous else None

    async def state(self) -> PauseState | None:
        """The current pause, or None when AI is running. One GET: check before every AI call."""
        raw = await self.redis.get(PAUSE_STATE)
        return PauseState.from_json(raw) if raw else None

    async def is_paused(self) -> bool:
        return await self.redis.exists(PAUSE_STATE) > 0

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[PauseSubscription]:
        """`async with switch.subscribe() as sub: event = await sub.next(timeout=1)`.

        The subscription is live when the block starts, so nothing published after that is missed.
        """
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(PAUSE_CHANNEL)
        try:
            yield PauseSubscription(pubsub)
        finally:
            await pubsub.unsubscribe(PAUSE_CHANNEL)
            await pubsub.aclose()


class PauseSubscription:
    def __init__(self, pubsub: Any) -> None:
        self._pubsub = pubsub

    async def next(self, timeout: float = 1.0) -> PauseEvent | None:
        """The next pause/resume, or None if none arrived within `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            # get_message returns None for subscribe confirmations too, so keep reading.
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
            if message is not None and message.get("type") == "message":
                event = _event(message["data"])
                if event is not None:
                    return event
        return None

    def __aiter__(self) -> AsyncIterator[PauseEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[PauseEvent]:
        while True:
            event = await self.next(timeout=1.0)
            if event is not None:
                yield event


def _event(raw: str | bytes) -> PauseEvent | None:
    """Parse a channel message; None for a malformed one (a listener must never die of it)."""
    try:
        data = json.loads(raw)
        if not data.get("paused"):
            return PauseEvent(paused=False, by=str(data.get("by", "")), state=None)
        state = PauseState.from_dict(data)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return PauseEvent(paused=True, by=state.by, state=state)
