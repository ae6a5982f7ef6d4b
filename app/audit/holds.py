"""Placing and releasing legal holds: `steward audit hold <interaction-id|@user|#channel>
--reason …` and `steward audit release …`.

A hold is an audit event (`hold_placed`, `hold_released`, on the interaction id
`hold:<kind>:<target>` so it never touches a held interaction's own state) and an entry in
`{p}:audit:holds`, which retention reads (`app.audit.archive`). The entry is written before the
event and removed after it: a crash in between leaves a hold in force without its event (more
kept than asked, never less), and running the command again completes it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import redis

from app.audit.event import format_at, utcnow
from app.audit.export import redis_failure
from app.audit.hold import Hold, HoldTargetError, active_holds, hold_key, parse_target
from app.audit.log import AuditLog
from app.runtime.store import async_client


class Holds:
    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit
        self.redis = audit.redis
        self.keys = audit.keys

    async def active(self) -> list[Hold]:
        return await active_holds(self.redis, self.keys)

    async def place(self, target: str, reason: str, by: str | None = None) -> Hold:
        """Hold what `target` names (raises HoldTargetError). Placing it again records the
        new reason: every placement is on the record."""
        if not reason.strip():
            raise HoldTargetError("a hold needs a --reason")
        kind, name = parse_target(target)
        hold = Hold(
            kind=kind, target=name, reason=reason, placed_at=format_at(utcnow()), placed_by=by
        )
        await self.redis.hset(self.keys.holds, hold.key, hold.model_dump_json())
        await self.audit.record(
            interaction_id=f"hold:{hold.key}",
            event="hold_placed",
            actor_id=by,
            reason=reason,
            extra={"hold": {"kind": kind, "target": name}},
        )
        return hold

    async def release(self, target: str, reason: str | None = None, by: str | None = None) -> Hold:
        """Release the hold on `target`; raises HoldTargetError when none is in force."""
        kind, name = parse_target(target)
        key = hold_key(kind, name)
        raw = await self.redis.hget(self.keys.holds, key)
        if raw is None:
            raise HoldTargetError(f"no hold is in force on {target}")
        await self.audit.record(
            interaction_id=f"hold:{key}",
            event="hold_released",
            actor_id=by,
            reason=reason,
            extra={"hold": {"kind": kind, "target": name}},
        )
        await self.redis.hdel(self.keys.holds, key)
        return Hold.model_validate_json(raw)


def add_parsers(actions: Any) -> None:
    what = "an interaction id, @U… (a user ID) or #C… (a channel ID)"
    hold = actions.add_parser("hold", help="keep matching events from retention (a legal hold)")
    hold.add_argument("target", metavar="TARGET", nargs="?", help=what)
    hold.add_argument("--reason", help="why (required when placing a hold)")
    hold.add_argument("--by", metavar="U", help="who asked for it (recorded as the actor)")
    hold.add_argument("--list", action="store_true", help="list the holds in force")
    release = actions.add_parser("release", help="release a legal hold")
    release.add_argument("target", metavar="TARGET", help=what)
    release.add_argument("--reason", help="why it is released")
    release.add_argument("--by", metavar="U", help="who released it (recorded as the actor)")


def run(args: argparse.Namespace, redis_url: str) -> int:
    try:
        return asyncio.run(_run(args, redis_url))
    except redis.RedisError as exc:
        return redis_failure(exc)


async def _run(args: argparse.Namespace, redis_url: str) -> int:
    client = async_client(redis_url)
    try:
        holds = Holds(AuditLog(client))
        try:
            if args.audit_command == "release":
                hold = await holds.release(args.target, args.reason, args.by)
                print(f"hold released: {hold.kind} {hold.target} (placed {hold.placed_at})")
            elif args.list or args.target is None:
                for hold in await holds.active():
                    print(f"{hold.kind} {hold.target}\tsince {hold.placed_at}\t{hold.reason}")
            else:
                hold = await holds.place(args.target, args.reason or "", args.by)
                print(f"hold placed: {hold.kind} {hold.target}; retention keeps its events")
        except HoldTargetError as exc:
            print(f"steward: {exc}", file=sys.stderr)
            return 2
        return 0
    finally:
        await client.aclose()
