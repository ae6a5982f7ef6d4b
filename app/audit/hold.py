"""What a legal hold is: a target (one interaction, everything one user did or was asked to
approve, or everything in one channel), why it was placed, and which events it covers.

A leaf, so retention (`app.audit.archive`) and the hold commands (`app.audit.holds`) can both
read holds without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict

from app.audit.keys import AuditKeys

HoldKind = Literal["interaction", "user", "channel"]


class HoldTargetError(ValueError):
    """Not an interaction id, `@U…` user ID or `#C…` channel ID."""


class Hold(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: HoldKind
    target: str
    reason: str
    placed_at: str
    placed_by: str | None = None

    @property
    def key(self) -> str:
        return hold_key(self.kind, self.target)

    def covers(self, event: Mapping[str, Any]) -> bool:
        if self.kind == "interaction":
            return event.get("interaction_id") == self.target
        if self.kind == "user":
            return self.target in (event.get("actor_id"), event.get("approver_id"))
        return event.get("channel_id") == self.target


def hold_key(kind: HoldKind, target: str) -> str:
    return f"{kind}:{target}"


def parse_target(text: str) -> tuple[HoldKind, str]:
    """`@U0ABC` → a user, `#C0ABC` → a channel, anything else → an interaction id. Names
    (`@jane`, `#launch`) are not resolved here: `steward ids` prints the IDs."""
    text = text.strip()
    if text.startswith("@"):
        target = text[1:]
        if not (target[:1] in ("U", "W") and target[1:].isalnum() and target.isupper()):
            raise HoldTargetError(f"{text}: a user hold takes a user ID such as @U0123ABC")
        return "user", target
    if text.startswith("#"):
        target = text[1:]
        if not (target[:1] in ("C", "G", "D") and target[1:].isalnum() and target.isupper()):
            raise HoldTargetError(f"{text}: a channel hold takes a channel ID such as #C0123ABC")
        return "channel", target
    if not text or any(ch.isspace() for ch in text):
        raise HoldTargetError("an interaction hold takes an interaction id")
    return "interaction", text


def covered(holds: list[Hold], event: Mapping[str, Any]) -> bool:
    return any(hold.covers(event) for hold in holds)


async def active_holds(redis: aioredis.Redis, keys: AuditKeys) -> list[Hold]:
    raw = cast(dict[str, str], await redis.hgetall(keys.holds))
    return sorted((Hold.model_validate_json(text) for text in raw.values()), key=lambda h: h.key)
