"""Granted use-case requests: the Redis overlay on the policy file.

A grant turns one use case on in one channel the file leaves closed (see
app/governance/resolution.py for why a grant never beats an explicit deny, and
app/governance/requests.py for how grants are asked for and given).
They live in Redis, not the file, so every process sees a grant the moment it is stored and no
file has to be rewritten by the app.

Redis: hash `steward:grants`, field `<use case>:<channel ID>` → JSON of `StoredGrant`. One field
per (use case, channel), so granting twice is idempotent and `decide` needs a single HGET.
"""

from __future__ import annotations

from datetime import UTC, datetime

import redis.asyncio as aioredis
from pydantic import BaseModel

from app.governance.keys import GRANTS
from app.governance.resolution import Grant


class StoredGrant(BaseModel):
    id: str  # the use-case request it came from
    use_case: str
    channel_id: str
    granted_by: str
    requested_by: str
    purpose: str = ""
    at: datetime

    def as_policy_grant(self) -> Grant:
        return Grant(
            use_case=self.use_case,
            channel_id=self.channel_id,
            id=self.id,
            granted_by=self.granted_by,
        )


def _field(use_case: str, channel_id: str) -> str:
    return f"{use_case}:{channel_id}"


class GrantStore:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def add(
        self,
        *,
        request_id: str,
        use_case: str,
        channel_id: str,
        granted_by: str,
        requested_by: str,
        purpose: str = "",
    ) -> StoredGrant:
        grant = StoredGrant(
            id=request_id,
            use_case=use_case,
            channel_id=channel_id,
            granted_by=granted_by,
            requested_by=requested_by,
            purpose=purpose,
            at=datetime.now(UTC),
        )
        await self.redis.hset(GRANTS, _field(use_case, channel_id), grant.model_dump_json())
        return grant

    async def get(self, use_case: str, channel_id: str) -> StoredGrant | None:
        raw = await self.redis.hget(GRANTS, _field(use_case, channel_id))
        return StoredGrant.model_validate_json(raw) if raw else None

    async def for_channel(self, channel_id: str) -> list[StoredGrant]:
        """Every grant in one channel, by use case (for `/steward policy`)."""
        raw = await self.redis.hgetall(GRANTS)
        grants = [StoredGrant.model_validate_json(v) for v in raw.values()]
        return sorted((g for g in grants if g.channel_id == channel_id), key=lambda g: g.use_case)

    async def all(self) -> list[StoredGrant]:
        raw = await self.redis.hgetall(GRANTS)
        grants = [StoredGrant.model_validate_json(v) for v in raw.values()]
        return sorted(grants, key=lambda g: (g.channel_id, g.use_case))

    async def revoke(self, use_case: str, channel_id: str) -> StoredGrant | None:
        """Remove a grant; returns it, or None when there was none (already revoked)."""
        field = _field(use_case, channel_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(GRANTS, field)
            pipe.hdel(GRANTS, field)
            raw, removed = await pipe.execute()
        return StoredGrant.model_validate_json(raw) if raw and removed else None
