"""The stored log as Redis holds it: raw reads of the stream, its head and its hashes.

`AuditLog`, verification and the archive all read through one `AuditStream`, so none of them
needs another's internals. redis-py types replies as bytes | str; the client decodes
(decode_responses=True), so these methods narrow them once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import redis.asyncio as aioredis

from app.audit.chain import GENESIS_HASH
from app.audit.event import AuditEvent
from app.audit.keys import AuditKeys

Entry = tuple[str, dict[str, str]]  # (stream id, entry fields)

PAGE = 1000  # stream entries read per round trip: keeps memory flat whatever the log size


class AuditError(RuntimeError):
    """The audit log could not be written."""


class AuditStream:
    def __init__(self, redis: aioredis.Redis, keys: AuditKeys) -> None:
        self.redis = redis
        self.keys = keys

    async def hash(self, key: str) -> dict[str, str]:
        return cast(dict[str, str], await self.redis.hgetall(key))

    async def range(self, low: str, high: str, count: int, reverse: bool = False) -> list[Entry]:
        r = self.redis
        if reverse:
            return cast(list[Entry], await r.xrevrange(self.keys.stream, high, low, count))
        return cast(list[Entry], await r.xrange(self.keys.stream, low, high, count))

    async def read_head(self) -> tuple[str, int]:
        """(hash, id) of the last event; (GENESIS_HASH, 0) for an empty log."""
        head = await self.hash(self.keys.head)
        return head.get("hash", GENESIS_HASH), int(head.get("seq", 0))

    async def iter_stored(
        self, start: str = "-", end: str = "+", *, reverse: bool = False
    ) -> AsyncIterator[Entry]:
        """(stream id, entry fields) in stream order, a page per round trip."""
        low, high = start, end
        while True:
            page = await self.range(low, high, PAGE, reverse)
            for sid, fields in page:
                yield sid, fields
            if len(page) < PAGE:
                return
            if reverse:
                high = "(" + page[-1][0]
            else:
                low = "(" + page[-1][0]

    async def load(self, stream_ids: list[str]) -> list[AuditEvent]:
        """The events at these stream ids, in that order (ids trimmed meanwhile are skipped)."""
        pipe = self.redis.pipeline(transaction=False)
        for sid in stream_ids:
            pipe.xrange(self.keys.stream, sid, sid, count=1)
        found = cast(list[list[Entry]], await pipe.execute())
        return [AuditEvent.model_validate_json(rows[0][1]["json"]) for rows in found if rows]
