"""Granted use-case requests: the Redis overlay on the policy file.

A grant turns one use case on in one channel the file leaves closed — for everyone there, or
only for the people of one group (`audience`: a `@user-group` handle or a policy group) — until
it is revoked or, when it has one, its expiry passes (app/governance/grant_expiry.py). See
app/governance/resolution.py for why a grant never beats an explicit deny, and
app/governance/requests.py for how grants are asked for and given).
They live in Redis, not the file, so every process sees a grant the moment it is stored and no
file has to be rewritten by the app.

Redis: hash `steward:grants`, field `<use case>:<channel ID>` (for the whole channel) or
`<use case>:<channel ID>:<audience>` (for a group there) → JSON of `StoredGrant`. One field per
(use case, channel, audience), so granting the same thing twice is idempotent.
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
    audience: str | None = None  # None: everyone the file lets in; else "@handle" or a group
    expires_at: datetime | None = None  # None: until revoked

    @property
    def field(self) -> str:
        return _field(self.use_case, self.channel_id, self.audience)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def as_policy_grant(self) -> Grant:
        return Grant(
            use_case=self.use_case,
            channel_id=self.channel_id,
            id=self.id,
            granted_by=self.granted_by,
            audience=self.audience,
        )


def _field(use_case: str, channel_id: str, audience: str | None = None) -> str:
    return f"{use_case}:{channel_id}" + (f":{audience}" if audience else "")


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
        audience: str | None = None,
        expires_at: datetime | None = None,
    ) -> StoredGrant:
        grant = StoredGrant(
            id=request_id,
            use_case=use_case,
            channel_id=channel_id,
            granted_by=granted_by,
            requested_by=requested_by,
            purpose=purpose,
            at=datetime.now(UTC),
            audience=audience,
            expires_at=expires_at,
        )
        await self.redis.hset(GRANTS, grant.field, grant.model_dump_json())
        return grant

    async def get(
        self, use_case: str, channel_id: str, audience: str | None = None
    ) -> StoredGrant | None:
        raw = await self.redis.hget(GRANTS, _field(use_case, channel_id, audience))
        return StoredGrant.model_validate_json(raw) if raw else None

    async def in_force(self, use_case: str, channel_id: str, now: datetime) -> list[StoredGrant]:
        """The grants of `use_case` in `channel_id`, for everyone or a group, not yet expired
        (the expiry timer removes them; this keeps a late timer from extending one)."""
        prefix = _field(use_case, channel_id)
        raw = await self.redis.hgetall(GRANTS)
        grants = [
            StoredGrant.model_validate_json(v)
            for k, v in raw.items()
            if k == prefix or str(k).startswith(f"{prefix}:")
        ]
        return sorted((g for g in grants if not g.expired(now)), key=lambda g: g.field)

    async def for_channel(self, channel_id: str) -> list[StoredGrant]:
        """Every grant in one channel, by use case (for `/steward policy`)."""
        raw = await self.redis.hgetall(GRANTS)
        grants = [StoredGrant.model_validate_json(v) for v in raw.values()]
        return sorted((g for g in grants if g.channel_id == channel_id), key=lambda g: g.use_case)

    async def all(self) -> list[StoredGrant]:
        raw = await self.redis.hgetall(GRANTS)
        grants = [StoredGrant.model_validate_json(v) for v in raw.values()]
        return sorted(grants, key=lambda g: (g.channel_id, g.use_case))

    async def revoke(
        self, use_case: str, channel_id: str, audience: str | None = None
    ) -> StoredGrant | None:
        """Remove a grant; returns it, or None when there was none (already revoked)."""
        field = _field(use_case, channel_id, audience)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(GRANTS, field)
            pipe.hdel(GRANTS, field)
            raw, removed = await pipe.execute()
        return StoredGrant.model_validate_json(raw) if raw and removed else None

    async def remove_if(self, grant_id: str, field: str) -> StoredGrant | None:
        """Remove the grant at `field` only if it is still grant `grant_id` (an expiry timer
        must not remove a newer grant of the same thing); returns it when removed."""
        removed = await self.redis.eval(_REMOVE_IF, 1, GRANTS, field, grant_id)
        return StoredGrant.model_validate_json(removed) if removed else None


# The grant at ARGV[1], removed and returned if its id is ARGV[2]; else nothing (nil).
_REMOVE_IF = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
if cjson.decode(raw)['id'] ~= ARGV[2] then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
return raw
"""
