"""The audit trail: an append-only, hash-chained log of every AI interaction, kept in Redis.

Every event is one entry of the stream `steward:audit`, hashed and linked as `app.audit.chain`
describes; `verify()` names the first event where the chain breaks (`app.audit.verify`).

Appends keep ONE chain with any number of writer processes, each append one call of the append
script (`app.audit.scripts`): the writer hashes the event's body, the script links it to the
chain head it alone knows. The same call updates the per-interaction state (`app.audit.state`),
the indexes (keys in `app.audit.keys`) and the usage totals (`app.audit.totals`), so they can
never disagree with the stream. Nothing is retried and nothing waits on another append.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Unpack, cast

import redis.asyncio as aioredis

from app.audit.archive import Archiver, ArchiveResult, Upload
from app.audit.chain import SCRIPT_FIELDS, for_script
from app.audit.content import ContentMode, kept
from app.audit.event import (
    ApprovalStatus,
    AuditContext,
    AuditDetail,
    AuditEvent,
    EventName,
    approvers_named,
    encodable,
    format_at,
    utcnow,
)
from app.audit.keys import AuditKeys
from app.audit.observability import observe
from app.audit.query import AuditFilters, ms
from app.audit.scripts import APPEND_LUA
from app.audit.sources import bounded
from app.audit.state import InteractionState, state_fields
from app.audit.stream import PAGE, AuditStream, Entry
from app.audit.totals import hour_of, totals_fields
from app.audit.verify import LeafSink, VerifyResult, verify_chain


class AuditLog:
    """The audit log over one `redis.asyncio.Redis` client (decode_responses=True)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str = "steward",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._r = redis
        self.keys = AuditKeys(prefix)
        self._stream = AuditStream(redis, self.keys)
        self._archiver = Archiver(self._stream, clock)
        self._clock = clock
        self._append = redis.register_script(APPEND_LUA)
        # What outputs the log keeps (the policy's `audit.content`), read per event: the runtime
        # points it at the policy in force, which a reload replaces.
        self.content: Callable[[], ContentMode] = lambda: "full"

    @property
    def redis(self) -> aioredis.Redis:
        return self._r

    # ---- writing -------------------------------------------------------------------------

    async def record(
        self,
        *,
        interaction_id: str,
        event: EventName,
        actor_id: str | None = None,
        team_id: str | None = None,
        channel_id: str | None = None,
        use_case: str | None = None,
        approval_status: ApprovalStatus | None = None,
        model: str | None = None,
        engine: str | None = None,
        prompt_version: str | None = None,
        sources: list[str] | None = None,
        output: str | None = None,
        confidence: float | None = None,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        latency_ms: float | None = None,
        redactions: dict[str, int] | None = None,
        reason: str | None = None,
        approver_id: str | None = None,
        rule: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Append one event to the chain (and update state and indexes) atomically.

        Returns the event as stored, with its `id` and `hash`. Raises pydantic.ValidationError
        for a malformed field, before anything is written.
        """
        return await self._commit(
            AuditEvent(
                id=0,
                at=format_at(self._clock()),
                interaction_id=interaction_id,
                event=event,
                actor_id=actor_id,
                team_id=team_id,
                channel_id=channel_id,
                use_case=use_case,
                approval_status=approval_status,
                model=model,
                engine=engine,
                prompt_version=prompt_version,
                sources=sources or [],
                output=output,
                confidence=confidence,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                latency_ms=latency_ms,
                redactions=redactions or {},
                reason=reason,
                approver_id=approver_id,
                rule=rule,
                extra=extra or {},
            )
        )

    async def record_in(
        self, context: AuditContext, event: EventName, **detail: Unpack[AuditDetail]
    ) -> AuditEvent:
        """`record` one event of the interaction `context` describes, with its details."""
        fields = context.model_dump() | dict(detail)
        return await self._commit(
            AuditEvent.model_validate(
                {"id": 0, "at": format_at(self._clock()), "event": event} | fields
            )
        )

    async def _commit(self, draft: AuditEvent) -> AuditEvent:
        draft = kept(bounded(draft), self.content())
        try:
            keys, args = self.append_call(draft)
        except UnicodeEncodeError:  # raised while hashing, before anything was sent
            draft = encodable(draft)
            keys, args = self.append_call(draft)
        _sid, seq, prev_hash, hash_ = await self._append(keys=keys, args=args)
        stored = draft.model_copy(update={"id": int(seq), "prev_hash": prev_hash, "hash": hash_})
        observe(stored)  # metrics and the structured log line, from the event as stored
        return stored

    def append_call(self, draft: AuditEvent) -> tuple[list[str], list[str | bytes]]:
        """(KEYS, ARGV) of the append script for `draft` (its id and hashes are the script's).

        Public so a bulk loader can pipeline real appends (bench/audit.py).
        """
        digest, template = for_script(draft.model_dump(mode="json", exclude=set(SCRIPT_FIELDS)))
        latest, first = state_fields(draft)
        # Everything else travels as ONE JSON array: each argument costs the client more to
        # pack than the script pays to decode it.
        rest = [int(bool(draft.actor_id)), int(bool(draft.channel_id)), latest, first]
        return self._append_keys(draft), [
            digest,
            *template,
            draft.interaction_id,
            draft.at,
            str(ms(datetime.fromisoformat(draft.at))),
            draft.event,
            json.dumps(rest + totals_fields(draft)),
        ]

    async def append_many(self, drafts: list[AuditEvent]) -> None:
        """Append events in one pipelined round trip: each is still one whole append script."""
        pipe = self._r.pipeline(transaction=False)
        for draft in drafts:
            keys, args = self.append_call(draft)
            await self._append(keys=keys, args=args, client=pipe)
        await pipe.execute()

    def _append_keys(self, event: AuditEvent) -> list[str]:
        k = self.keys
        return [
            k.stream,
            k.head,
            k.state(event.interaction_id),
            k.by_interaction(event.interaction_id),
            k.by_user(event.actor_id or ""),
            k.by_channel(event.channel_id or ""),
            k.usage_hour(hour_of(event.at)),
            k.usage_day(event.at[:10]),
            k.usage_open,
            k.usage_rejections,
            k.usage_low,
            k.merkle,
            *(k.awaiting(user) for user in approvers_named(event)),
        ]

    # ---- reading -------------------------------------------------------------------------

    async def state(self, interaction_id: str) -> InteractionState | None:
        raw = await self._stream.hash(self.keys.state(interaction_id))
        return InteractionState.model_validate(raw) if raw else None

    async def states(self, interaction_ids: list[str]) -> list[InteractionState | None]:
        """Several interactions' states in one round trip, in the order asked."""
        pipe = self._r.pipeline(transaction=False)
        for iid in interaction_ids:
            pipe.hgetall(self.keys.state(iid))
        raws = cast(list[dict[str, str]], await pipe.execute())
        return [InteractionState.model_validate(raw) if raw else None for raw in raws]

    async def events_for(self, interaction_id: str) -> list[AuditEvent]:
        """The interaction's events in chain order: those archived are gone, unless a legal
        hold kept them (`app.audit.archive`)."""
        stream_ids = await self._r.zrange(self.keys.by_interaction(interaction_id), 0, -1)
        live = await self._stream.load(cast(list[str], stream_ids))
        kept = cast(dict[str, str], await self._r.hgetall(self.keys.held(interaction_id)))
        if not kept:
            return live
        events = {e.id: e for e in map(AuditEvent.model_validate_json, kept.values())}
        events.update({e.id: e for e in live})
        return [events[k] for k in sorted(events)]

    def iter_stored(
        self, start: str = "-", end: str = "+", *, reverse: bool = False
    ) -> AsyncIterator[Entry]:
        """(stream id, entry fields) in stream order, a page per round trip."""
        return self._stream.iter_stored(start, end, reverse=reverse)

    async def export_stored(
        self, filters: AuditFilters | None = None, *, reverse: bool = False
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(stored JSON line, parsed dict) of matching events: what the writers use.

        The stored text is passed on unchanged so an export verifies against the same hashes.
        """
        filters = filters or AuditFilters()
        low, high = filters.stream_bounds()
        async for _, fields in self.iter_stored(low, high, reverse=reverse):
            text = fields.get("json", "")
            data = json.loads(text)
            if filters.matches(data):
                yield text, data

    async def export(self, filters: AuditFilters | None = None) -> AsyncIterator[AuditEvent]:
        async for _, data in self.export_stored(filters):
            yield AuditEvent.model_validate(data)

    async def recent(
        self, limit: int = 20, filters: AuditFilters | None = None
    ) -> list[AuditEvent]:
        """The newest `limit` matching events, newest first."""
        found: list[AuditEvent] = []
        if limit <= 0:
            return found
        # Other filters may drop some: read a little more than asked, but never a huge page.
        async for event in self.iter_recent(filters, batch=min(PAGE, max(limit, 50))):
            found.append(event)
            if len(found) >= limit:
                break
        return found

    async def iter_recent(
        self, filters: AuditFilters | None = None, *, batch: int = PAGE
    ) -> AsyncIterator[AuditEvent]:
        """Matching events newest first, a page per round trip, so a caller can stop early.

        Filtered by user or channel, it walks that index instead of the whole stream.
        """
        filters = filters or AuditFilters()
        if not (filters.user or filters.channel):
            async for _, data in self.export_stored(filters, reverse=True):
                yield AuditEvent.model_validate(data)
            return
        async for event in self._iter_indexed(filters, batch):
            yield event

    async def _iter_indexed(self, filters: AuditFilters, batch: int) -> AsyncIterator[AuditEvent]:
        if filters.user:
            key = self.keys.by_user(filters.user)
        else:
            key = self.keys.by_channel(filters.channel or "")
        low, high = filters.stream_bounds()
        low_score: float | str = "-inf" if low == "-" else low
        high_score: float | str = "+inf" if high == "+" else high
        # Pages move by score, not offset, so events appended meanwhile never shift the walk;
        # ids already seen at the boundary score (several events in one ms) are skipped.
        seen_at_boundary: set[str] = set()
        while True:
            page = cast(
                list[tuple[str, float]],
                await self._r.zrevrangebyscore(
                    key,
                    high_score,
                    low_score,
                    start=len(seen_at_boundary),
                    num=batch,
                    withscores=True,
                ),
            )
            fresh = [sid for sid, _ in page if sid not in seen_at_boundary]
            for event in await self._stream.load(fresh):
                if filters.matches(event.model_dump(mode="json")):
                    yield event
            if len(page) < batch or not fresh:
                return
            boundary = page[-1][1]
            if boundary != high_score:
                seen_at_boundary = set()
            seen_at_boundary |= {sid for sid, score in page if score == boundary}
            high_score = boundary

    async def awaiting(self, user_id: str, limit: int = 50) -> list[str]:
        """Interaction ids whose approval request named `user_id`, newest first (a hint: the
        caller checks each one's state and may `forget_awaiting` the settled ones)."""
        ids = await self._r.zrevrange(self.keys.awaiting(user_id), 0, max(0, limit - 1))
        return cast(list[str], ids)

    async def forget_awaiting(self, user_id: str, interaction_ids: list[str]) -> None:
        if interaction_ids:
            await self._r.zrem(self.keys.awaiting(user_id), *interaction_ids)

    async def head(self) -> tuple[str, int]:
        """(hash, id) of the last event; (GENESIS_HASH, 0) for an empty log."""
        return await self._stream.read_head()

    # ---- verification and retention ------------------------------------------------------

    async def verify(self, sink: LeafSink | None = None) -> VerifyResult:
        """Recompute the chain from the anchor (or genesis); see `app.audit.verify`. `sink`
        gets each verified event's hash (the Merkle tree check, `app.audit.tree_check`)."""
        return await verify_chain(self._stream, sink)

    async def archive_older_than(
        self,
        days: int,
        archive_dir: Path,
        *,
        now: datetime | None = None,
        keep_after: int | None = None,
        trim_through: int | None = None,
        upload: Upload | None = None,
    ) -> ArchiveResult:
        """Move events older than `days` to JSONL under `archive_dir`; see `app.audit.archive`."""
        return await self._archiver.archive_older_than(
            days, archive_dir, now=now, keep_after=keep_after, trim_through=trim_through,
            upload=upload,
        )  # fmt: skip
