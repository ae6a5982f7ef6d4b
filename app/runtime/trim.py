"""Keeping a lane's job stream bounded: what the consumer group is done with is trimmed away.

A worker XDELs each job it finishes (app/runtime/queue.py), so in steady state the stream holds
only work that is waiting or running. Anything else below that line — entries acknowledged by
an older Steward that did not delete them, or acknowledged by hand — is trimmed with
`XTRIM MINID`, below the oldest entry the group still needs: the oldest pending one, or the
first it has not delivered yet. Entries are only ever added above that line and the line only
moves up, so a trim computed a moment ago is still safe when it runs.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from app.runtime.clock import Clock
from app.runtime.keys import GROUP, STREAMS, Lane

TRIM_EVERY_S = 60.0


def group_lost(exc: ResponseError) -> bool:
    """The stream or its consumer group is gone (Redis restarted empty, or was flushed): a
    blocked XREADGROUP answers UNBLOCKED, any other read NOGROUP."""
    text = str(exc)
    return "NOGROUP" in text or "UNBLOCKED" in text


def _after(entry_id: str) -> str:
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


def _older(a: str, b: str) -> str:
    def key(entry_id: str) -> tuple[int, int]:
        ms, _, seq = entry_id.partition("-")
        return int(ms), int(seq or 0)

    return a if key(a) <= key(b) else b


async def needed_from(redis: aioredis.Redis, stream: str) -> str | None:
    """The id of the oldest entry the group still needs, or None if it has no group."""
    groups: Any = await redis.xinfo_groups(stream)
    ours = [g for g in groups if g["name"] in (GROUP, GROUP.encode())]
    if not ours:
        return None
    delivered = ours[0]["last-delivered-id"]
    line = _after(delivered.decode() if isinstance(delivered, bytes) else str(delivered))
    pending: Any = await redis.xpending(stream, GROUP)
    oldest = pending.get("min") if pending and pending.get("pending") else None
    if oldest:
        line = _older(oldest.decode() if isinstance(oldest, bytes) else str(oldest), line)
    return line


async def trim(redis: aioredis.Redis, lane: Lane) -> int:
    """Trim `lane`'s stream below what its group still needs; how many entries went."""
    stream = STREAMS[lane]
    try:
        line = await needed_from(redis, stream)
    except ResponseError:  # no stream yet
        return 0
    if line is None:
        return 0
    return int(await redis.xtrim(stream, minid=line, approximate=False))


class Trimmer:
    """Trims a lane every `TRIM_EVERY_S` of the worker's clock (the first pass at start)."""

    def __init__(self, redis: aioredis.Redis, lane: Lane, clock: Clock) -> None:
        self._redis, self._lane, self._clock = redis, lane, clock
        self._last: float | None = None

    async def maybe_trim(self) -> None:
        now = self._clock.monotonic()
        if self._last is not None and now - self._last < TRIM_EVERY_S:
            return
        self._last = now
        await trim(self._redis, self._lane)
