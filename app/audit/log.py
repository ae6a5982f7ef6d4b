"""The audit trail: an append-only, hash-chained log of every AI interaction, kept in Redis.

Every event is one entry of the stream `steward:audit`. Each event carries the hash of the event
before it (`prev_hash`) and its own `hash` = SHA-256 over its canonical JSON form (sorted keys, no
whitespace, UTF-8, everything but `hash`). Editing, removing or reordering any event therefore
breaks the chain, and `verify()` names the first event where it breaks.

Appends must keep ONE chain even with many writer processes. Redis Lua has no SHA-256, so the
client computes the hash and a Lua script commits it only if the chain head is still the one the
client built on (optimistic concurrency); on a conflict the script returns the new head and the
client rebuilds and retries. The same script updates the per-interaction state and the indexes, so
they can never disagree with the stream.

Keys (all under the prefix, `steward` by default):
    {p}:audit                      stream; entry fields `id` (sequence), `iid`, `json` (the event)
    {p}:audit:head                 hash: `hash`, `seq`, `stream_id` of the last event
    {p}:audit:anchor               hash: `hash`, `seq`, `stream_id`, `at`, `file` of the last
                                   archived (trimmed) event; verification starts after it
    {p}:audit:interaction:{iid}    zset: stream ids of an interaction's events, scored by sequence
    {p}:audit:user:{actor_id}      zset: stream ids by the actor, scored by append time (ms)
    {p}:audit:channel:{channel}    zset: stream ids in the channel, scored by append time (ms)
    {p}:audit:awaiting:{user}      zset: interaction ids whose `approval_requested` (or
                                   `escalated`) event named the user in `extra["approvers"]`,
                                   scored by append time (ms); a hint for App Home, checked
                                   against the state when read
    {p}:interaction:{iid}          hash: the interaction's latest state (see InteractionState)
    {p}:audit:archive:lock         retention lock (SET NX PX), so one process archives at a time
    {p}:audit:archive:pending      set: index keys left to prune after a trim (crash-safe)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal, cast

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, Field

from app.audit.observability import observe

Entry = tuple[str, dict[str, str]]  # (stream id, entry fields)

GENESIS_HASH = "0" * 64  # prev_hash of the very first event
PAGE = 1000  # stream entries read per round trip: keeps memory flat whatever the log size
LOOKAHEAD = 1000  # how far verify() looks for a missing event before calling it removed
LOCK_MS = 15 * 60 * 1000  # an archive run holds the lock at most this long
MAX_RETRIES = 10_000  # each conflict means another writer committed, so this is never reached

EventName = Literal[
    "requested",
    "generated",
    "shared",
    "approval_requested",
    "approved",
    "rejected",
    "edited",
    "escalated",
    "expired",
    "posted",
    "discarded",
    "refused",
    "failed",
    "feedback",
    "policy_changed",
    "use_case_requested",
    "use_case_granted",
    "paused",
    "resumed",
]
ApprovalStatus = Literal[
    "not_required", "pending", "approved", "rejected", "escalated", "expired", "withdrawn"
]
ProblemKind = Literal["edited", "removed", "reordered"]


class AuditError(RuntimeError):
    """The audit log could not be written."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_at(moment: datetime) -> str:
    """ISO-8601 UTC with a fixed width, so timestamps also compare correctly as strings."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def canonical_json(data: Mapping[str, Any]) -> bytes:
    """The bytes that are hashed: every field but `hash`, sorted keys, no whitespace, UTF-8."""
    body = {key: value for key, value in data.items() if key != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def compute_hash(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(data)).hexdigest()


def stored_json(data: Mapping[str, Any]) -> str:
    """The form kept in the stream and written to JSONL: canonical, plus `hash`."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class AuditEvent(BaseModel):
    """One audit event, as PRODUCT.md defines it."""

    # Unknown keys are ignored so events written by a newer version still load; verification
    # never goes through this model (it hashes the stored JSON), so that is safe.
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    id: int  # position in the chain, 1-based, never reused (survives trims)
    at: str
    interaction_id: str
    event: EventName
    actor_id: str | None = None
    team_id: str | None = None
    channel_id: str | None = None
    use_case: str | None = None
    approval_status: ApprovalStatus | None = None
    model: str | None = None
    engine: str | None = None
    prompt_version: str | None = None
    sources: list[str] = Field(default_factory=list)
    output: str | None = None
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    tokens_in: int | None = Field(default=None, ge=0)
    tokens_out: int | None = Field(default=None, ge=0)
    latency_ms: float | None = Field(default=None, ge=0.0)
    redactions: dict[str, int] = Field(default_factory=dict)
    reason: str | None = None
    approver_id: str | None = None
    rule: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str = GENESIS_HASH
    hash: str = ""

    def canonical(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))

    def to_json(self) -> str:
        return stored_json(self.model_dump(mode="json"))


class InteractionState(BaseModel):
    """An interaction's latest state, kept beside the stream so reading it never scans."""

    model_config = ConfigDict(extra="ignore")

    interaction_id: str
    created_at: str
    updated_at: str
    event: EventName
    last_event_id: int
    approval_status: ApprovalStatus | None = None
    output: str | None = None
    approver_id: str | None = None
    actor_id: str | None = None  # who started the interaction (first event's actor)
    team_id: str | None = None
    channel_id: str | None = None
    use_case: str | None = None
    confidence: float | None = None
    reason: str | None = None
    rule: str | None = None


# State fields the latest event overwrites (when it carries them) ...
_STATE_LATEST = ("approval_status", "output", "approver_id", "confidence", "reason", "rule")
# ... and fields that describe the interaction itself, so the first event to carry them wins.
_STATE_FIRST = ("actor_id", "team_id", "channel_id", "use_case")


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad: str | None = None  # the id of the first event that was edited/removed/reordered
    problem: str | None = None  # "<kind>: <sentence for a person>"
    kind: ProblemKind | None = None


@dataclass(frozen=True)
class ArchiveResult:
    archived: int
    path: Path | None = None
    anchor_id: int | None = None
    skipped: bool = False  # another process holds the archive lock


def parse_when(value: str | date | datetime | None, *, end: bool = False) -> datetime | None:
    """A filter bound from a date or ISO datetime; a bare date as an `end` covers that whole day."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = _parse_text_when(value)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    start = datetime.combine(value, time.min, tzinfo=UTC)
    return start + timedelta(days=1) if end else start


def _parse_text_when(text: str) -> date | datetime:
    text = text.strip()
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text)


@dataclass(frozen=True)
class AuditFilters:
    """Which events to export or list. `since` is inclusive, `until` exclusive."""

    since: datetime | None = None
    until: datetime | None = None
    user: str | None = None
    channel: str | None = None
    use_case: str | None = None
    status: str | None = None
    interaction_id: str | None = None
    event: str | None = None

    @classmethod
    def build(
        cls,
        *,
        since: str | date | datetime | None = None,
        until: str | date | datetime | None = None,
        user: str | None = None,
        channel: str | None = None,
        use_case: str | None = None,
        status: str | None = None,
        interaction_id: str | None = None,
        event: str | None = None,
    ) -> AuditFilters:
        """From command-line style values; raises ValueError on a malformed date."""
        return cls(
            since=parse_when(since),
            until=parse_when(until, end=True),
            user=user or None,
            channel=channel or None,
            use_case=use_case or None,
            status=status or None,
            interaction_id=interaction_id or None,
            event=event or None,
        )

    def matches(self, data: Mapping[str, Any]) -> bool:
        at = data.get("at") or ""
        if self.since is not None and at < format_at(self.since):
            return False
        if self.until is not None and at >= format_at(self.until):
            return False
        wanted = (
            ("actor_id", self.user),
            ("channel_id", self.channel),
            ("use_case", self.use_case),
            ("approval_status", self.status),
            ("interaction_id", self.interaction_id),
            ("event", self.event),
        )
        return all(value is None or data.get(key) == value for key, value in wanted)

    def stream_bounds(self) -> tuple[str, str]:
        """An XRANGE window that surely holds every match; matches() applies the exact bounds.

        A stream id's time is its event's `at`, or later when that writer's clock lagged behind
        the previous event's, so only the upper bound needs widening by CLOCK_SKEW.
        """
        low = "-" if self.since is None else str(_ms(self.since))
        high = "+" if self.until is None else str(_ms(self.until + CLOCK_SKEW))
        return low, high


CLOCK_SKEW = timedelta(minutes=10)


def _ms(moment: datetime) -> int:
    return max(0, int(moment.timestamp() * 1000))


def _next_stream_id(stream_id: str) -> str:
    ms, _, seq = stream_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


# KEYS: stream, head, state, by-interaction, by-user, by-channel, then any awaiting-approver keys
# ARGV: 1 expected prev hash, 2 expected prev seq, 3 new hash, 4 json, 5 new seq,
#       6 interaction id, 7 at, 8 at in ms, 9 has-user, 10 has-channel, 11 event name,
#       12 latest-wins state fields (JSON object), 13 first-wins state fields (JSON object).
# State fields travel as two small JSON objects because packing dozens of arguments was the
# largest client-side cost of an append.
# The stream id takes its time from `at` (never going below the last id, should a writer's clock
# lag), so time-bounded reads and retention can use the stream id and agree with `at`.
_APPEND_LUA = f"""
local head = redis.call('HMGET', KEYS[2], 'hash', 'seq', 'stream_id')
local cur_hash = head[1] or '{GENESIS_HASH}'
local cur_seq = head[2] or '0'
if cur_hash ~= ARGV[1] or cur_seq ~= ARGV[2] then
  return {{0, cur_hash, cur_seq}}
end
local ms = ARGV[8]
if head[3] then
  local top = string.match(head[3], '^(%d+)')
  if tonumber(top) > tonumber(ms) then ms = top end
end
local sid = redis.call('XADD', KEYS[1], ms .. '-*', 'id', ARGV[5], 'iid', ARGV[6], 'json', ARGV[4])
redis.call('HSET', KEYS[2], 'hash', ARGV[3], 'seq', ARGV[5], 'stream_id', sid)
redis.call('ZADD', KEYS[4], tonumber(ARGV[5]), sid)
if ARGV[9] == '1' then redis.call('ZADD', KEYS[5], ms, sid) end
if ARGV[10] == '1' then redis.call('ZADD', KEYS[6], ms, sid) end
for i = 7, #KEYS do redis.call('ZADD', KEYS[i], ms, ARGV[6]) end
redis.call('HSETNX', KEYS[3], 'created_at', ARGV[7])
redis.call('HSET', KEYS[3], 'updated_at', ARGV[7], 'event', ARGV[11], 'last_event_id', ARGV[5],
           'interaction_id', ARGV[6])
for k, v in pairs(cjson.decode(ARGV[12])) do redis.call('HSET', KEYS[3], k, v) end
for k, v in pairs(cjson.decode(ARGV[13])) do redis.call('HSETNX', KEYS[3], k, v) end
return {{1, sid}}
"""

# KEYS: lock, anchor, stream. ARGV: token, min id to keep, anchor field/value pairs.
# Checks the lock is still ours so a run that outlived its lock never trims.
_TRIM_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
return redis.call('XTRIM', KEYS[3], 'MINID', ARGV[2])
"""

# KEYS: lock. ARGV: token. Releases the lock only if this run still holds it.
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Prunes one index after a trim. KEYS: index zset, state hash (only for kind 'i').
# ARGV: kind ('i' by sequence, else by stream id), last archived seq, its stream id ms, its seq part
_PRUNE_LUA = """
if ARGV[1] == 'i' then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
  if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) end
  return 1
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[3], ARGV[3])) do
  local part = tonumber(string.match(sid, '-(%d+)$'))
  if part <= tonumber(ARGV[4]) then redis.call('ZREM', KEYS[1], sid) end
end
return 1
"""


class _Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.stream = f"{prefix}:audit"
        self.head = f"{prefix}:audit:head"
        self.anchor = f"{prefix}:audit:anchor"
        self.lock = f"{prefix}:audit:archive:lock"
        self.pending = f"{prefix}:audit:archive:pending"

    def state(self, interaction_id: str) -> str:
        return f"{self.prefix}:interaction:{interaction_id}"

    def by_interaction(self, interaction_id: str) -> str:
        return f"{self.prefix}:audit:interaction:{interaction_id}"

    def by_user(self, actor_id: str) -> str:
        return f"{self.prefix}:audit:user:{actor_id}"

    def by_channel(self, channel_id: str) -> str:
        return f"{self.prefix}:audit:channel:{channel_id}"

    def awaiting(self, user_id: str) -> str:
        return f"{self.prefix}:audit:awaiting:{user_id}"


def _state_args(event: AuditEvent) -> list[str]:
    """The append script's state arguments: latest-wins and first-wins fields, as JSON."""

    def present(names: tuple[str, ...]) -> str:
        # Absent fields are left out, so an approval (no output) keeps the draft's output.
        values = {name: getattr(event, name) for name in names}
        return json.dumps({k: str(v) for k, v in values.items() if v is not None})

    return [event.event, present(_STATE_LATEST), present(_STATE_FIRST)]


ASKING_EVENTS = frozenset({"approval_requested", "escalated"})  # events that name approvers


def approvers_named(event: AuditEvent | Mapping[str, Any]) -> list[str]:
    """The user IDs an `approval_requested` or `escalated` event asks (`extra["approvers"]`)."""
    name: Any
    extra: Any
    if isinstance(event, AuditEvent):
        name, extra = event.event, event.extra
    else:
        name, extra = event.get("event"), event.get("extra") or {}
    if name not in ASKING_EVENTS or not isinstance(extra, dict):
        return []
    named = extra.get("approvers") or []
    if not isinstance(named, list):
        return []
    return sorted({str(user) for user in named if isinstance(user, str) and user})


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
        self.keys = _Keys(prefix)
        self._clock = clock
        self._append = redis.register_script(_APPEND_LUA)
        self._trim = redis.register_script(_TRIM_LUA)
        self._release = redis.register_script(_RELEASE_LUA)
        self._prune = redis.register_script(_PRUNE_LUA)
        # The head this process last saw: a lone writer then appends in one round trip.
        self._head: tuple[str, int] | None = None
        # Coroutines of one process take turns so they do not make each other retry.
        self._local = asyncio.Lock()

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
        draft = AuditEvent(
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
        async with self._local:
            try:
                stored = await self._append_with_retry(draft)
            except UnicodeEncodeError:  # raised while hashing, before anything was sent
                stored = await self._append_with_retry(_encodable(draft))
        observe(stored)  # metrics and the structured log line, from the event as stored
        return stored

    async def _append_with_retry(self, draft: AuditEvent) -> AuditEvent:
        head = self._head or await self._read_head()
        fields = draft.model_dump(mode="json")
        keys = self._append_keys(draft)
        for _ in range(MAX_RETRIES):
            prev_hash, prev_seq = head
            # `at` is re-read on every attempt so it never goes backwards along the chain.
            event, text = self._seal(draft, fields, prev_seq + 1, prev_hash)
            reply = await self._append(
                keys=keys, args=self._append_args(event, text, prev_hash, prev_seq)
            )
            if int(reply[0]) == 1:
                self._head = (event.hash, event.id)
                return event
            head = (str(reply[1]), int(reply[2]))  # someone else appended: build on theirs
        self._head = None
        raise AuditError("audit append kept conflicting with other writers")

    def _seal(
        self, draft: AuditEvent, fields: dict[str, Any], seq: int, prev_hash: str
    ) -> tuple[AuditEvent, str]:
        """The event at position `seq` with its hash, and its stored JSON text."""
        update = {"id": seq, "at": format_at(self._clock()), "prev_hash": prev_hash}
        data = fields | update
        data["hash"] = compute_hash(data)
        return draft.model_copy(update=update | {"hash": data["hash"]}), stored_json(data)

    def _append_keys(self, event: AuditEvent) -> list[str]:
        k = self.keys
        return [
            k.stream,
            k.head,
            k.state(event.interaction_id),
            k.by_interaction(event.interaction_id),
            k.by_user(event.actor_id or ""),
            k.by_channel(event.channel_id or ""),
            *(k.awaiting(user) for user in approvers_named(event)),
        ]

    def _append_args(
        self, event: AuditEvent, text: str, prev_hash: str, prev_seq: int
    ) -> list[str]:
        return [
            prev_hash,
            str(prev_seq),
            event.hash,
            text,
            str(event.id),
            event.interaction_id,
            event.at,
            str(_ms(datetime.fromisoformat(event.at))),
            "1" if event.actor_id else "0",
            "1" if event.channel_id else "0",
            *_state_args(event),
        ]

    # redis-py types replies as bytes | str; the client decodes, so these narrow them once.

    async def _hash(self, key: str) -> dict[str, str]:
        return cast(dict[str, str], await self._r.hgetall(key))

    async def _range(self, low: str, high: str, count: int, reverse: bool = False) -> list[Entry]:
        if reverse:
            return cast(list[Entry], await self._r.xrevrange(self.keys.stream, high, low, count))
        return cast(list[Entry], await self._r.xrange(self.keys.stream, low, high, count))

    async def _read_head(self) -> tuple[str, int]:
        head = await self._hash(self.keys.head)
        return head.get("hash", GENESIS_HASH), int(head.get("seq", 0))

    # ---- reading -------------------------------------------------------------------------

    async def state(self, interaction_id: str) -> InteractionState | None:
        raw = await self._hash(self.keys.state(interaction_id))
        return InteractionState.model_validate(raw) if raw else None

    async def states(self, interaction_ids: list[str]) -> list[InteractionState | None]:
        """Several interactions' states in one round trip, in the order asked."""
        pipe = self._r.pipeline(transaction=False)
        for iid in interaction_ids:
            pipe.hgetall(self.keys.state(iid))
        raws = cast(list[dict[str, str]], await pipe.execute())
        return [InteractionState.model_validate(raw) if raw else None for raw in raws]

    async def events_for(self, interaction_id: str) -> list[AuditEvent]:
        """The interaction's events in chain order (archived ones are gone)."""
        stream_ids = await self._r.zrange(self.keys.by_interaction(interaction_id), 0, -1)
        return await self._load(cast(list[str], stream_ids))

    async def _load(self, stream_ids: list[str]) -> list[AuditEvent]:
        pipe = self._r.pipeline(transaction=False)
        for sid in stream_ids:
            pipe.xrange(self.keys.stream, sid, sid, count=1)
        found = cast(list[list[Entry]], await pipe.execute())
        return [AuditEvent.model_validate_json(rows[0][1]["json"]) for rows in found if rows]

    async def iter_stored(
        self, start: str = "-", end: str = "+", *, reverse: bool = False
    ) -> AsyncIterator[tuple[str, dict[str, str]]]:
        """(stream id, entry fields) in stream order, a page per round trip."""
        low, high = start, end
        while True:
            page = await self._range(low, high, PAGE, reverse)
            for sid, fields in page:
                yield sid, fields
            if len(page) < PAGE:
                return
            if reverse:
                high = "(" + page[-1][0]
            else:
                low = "(" + page[-1][0]

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
            for event in await self._load(fresh):
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
        return await self._read_head()

    # ---- verification --------------------------------------------------------------------

    async def verify(self) -> VerifyResult:
        """Recompute the chain from the anchor (or genesis) to the end of the stream.

        The head is read first, so a missing tail (the newest events deleted) is noticed: the
        head remembers them. Events appended while this runs are checked too.
        """
        anchor = await self._hash(self.keys.anchor)
        result = await self._verify_from(anchor)
        if not result.ok and await self._hash(self.keys.anchor) != anchor:
            # A concurrent archive trimmed events this walk expected: walk again from its anchor.
            result = await self._verify_from(await self._hash(self.keys.anchor))
        return result

    async def _verify_from(self, anchor: Mapping[str, str]) -> VerifyResult:
        _, end_seq = await self._read_head()
        walk = _ChainWalk(anchor.get("hash", GENESIS_HASH), int(anchor.get("seq", 0)) + 1)
        start = "(" + anchor["stream_id"] if anchor.get("stream_id") else "-"
        async for sid, fields in self.iter_stored(start):
            bad = walk.step(fields)
            if bad == "lookahead":
                bad = await self._classify_jump(walk, sid)
            if bad is not None:
                return bad
        if walk.expected_seq <= end_seq:
            return _bad(
                "removed",
                walk.expected_seq,
                walk.checked,
                f"event {walk.expected_seq} is missing: the log ends before event {end_seq}, "
                "the last one written",
            )
        return VerifyResult(ok=True, checked=walk.checked)

    async def _classify_jump(self, walk: _ChainWalk, sid: str) -> VerifyResult:
        """An event with a later id than expected: was the expected one moved, or removed?"""
        seq, missing = walk.jump_seq, walk.expected_seq
        page = await self._range("(" + sid, "+", LOOKAHEAD)
        if any(fields.get("id") == str(missing) for _, fields in page):
            return _bad(
                "reordered",
                seq,
                walk.checked,
                f"event {seq} is stored before event {missing}",
            )
        gap = f"event {missing} is" if seq == missing + 1 else f"events {missing}-{seq - 1} are"
        return _bad(
            "removed",
            missing,
            walk.checked,
            f"{gap} missing: event {seq}'s prev_hash does not link to event {missing - 1}",
        )

    # ---- retention -----------------------------------------------------------------------

    async def archive_older_than(
        self, days: int, archive_dir: Path, *, now: datetime | None = None
    ) -> ArchiveResult:
        """Move events older than `days` to a JSONL file under `archive_dir`, then trim them.

        Runs at most once at a time across processes (others return `skipped=True`). The file
        is fsynced and the anchor stored before anything leaves Redis.
        """
        cutoff = format_at((now or self._clock()) - timedelta(days=days))
        token = secrets.token_hex(16)
        if not await self._r.set(self.keys.lock, token, nx=True, px=LOCK_MS):
            return ArchiveResult(archived=0, skipped=True)
        try:
            await self._prune_pending()  # finish a run that died after its trim
            result = await self._archive(cutoff, Path(archive_dir), token)
            await self._prune_pending()
            return result
        finally:
            await self._release(keys=[self.keys.lock], args=[token])

    async def _archive(self, cutoff: str, archive_dir: Path, token: str) -> ArchiveResult:
        anchor = await self._hash(self.keys.anchor)
        start = "(" + anchor["stream_id"] if anchor.get("stream_id") else "-"
        archive_dir.mkdir(parents=True, exist_ok=True)
        path = _archive_path(archive_dir, self._clock())
        partial = path.with_name(path.name + ".partial")
        count, last = await self._write_archive(partial, start, cutoff)
        if last is None:
            partial.unlink(missing_ok=True)
            return ArchiveResult(archived=0)
        os.replace(partial, path)
        _fsync_dir(archive_dir)
        sid, data = last
        anchor_fields = ["hash", data["hash"], "seq", str(data["id"]), "stream_id", sid]
        anchor_fields += ["at", data["at"], "file", path.name]
        trimmed = await self._trim(
            keys=[self.keys.lock, self.keys.anchor, self.keys.stream],
            args=[token, _next_stream_id(sid), *anchor_fields],
        )
        if int(trimmed) < 0:
            raise AuditError(
                "archive lock expired before the trim; archive file kept, nothing trimmed"
            )
        return ArchiveResult(archived=count, path=path, anchor_id=int(data["id"]))

    async def _write_archive(
        self, partial: Path, start: str, cutoff: str
    ) -> tuple[int, tuple[str, dict[str, Any]] | None]:
        """Write the old prefix of the stream; returns (count, last (stream id, event))."""
        count, last = 0, None
        pending: set[str] = set()
        with partial.open("w", encoding="utf-8") as fh:
            async for sid, fields in self.iter_stored(start):
                data = json.loads(fields["json"])
                # Only a prefix can be trimmed, so stop at the first event inside the window.
                if data.get("at", "") >= cutoff:
                    break
                fh.write(fields["json"] + "\n")
                count, last = count + 1, (sid, data)
                pending |= self._index_keys(data)
                if len(pending) >= PAGE:
                    await self._r.sadd(self.keys.pending, *pending)
                    pending.clear()
            fh.flush()
            os.fsync(fh.fileno())
        if pending:
            await self._r.sadd(self.keys.pending, *pending)
        return count, last

    def _index_keys(self, data: Mapping[str, Any]) -> set[str]:
        keys = {"i:" + str(data["interaction_id"])}
        if data.get("actor_id"):
            keys.add("u:" + str(data["actor_id"]))
        if data.get("channel_id"):
            keys.add("c:" + str(data["channel_id"]))
        keys |= {"a:" + user for user in approvers_named(data)}
        return keys

    async def _prune_pending(self) -> None:
        """Drop index entries (and finished interactions' state) for trimmed events."""
        anchor = await self._hash(self.keys.anchor)
        if not anchor:
            return
        ms, _, part = anchor["stream_id"].partition("-")
        while members := cast(list[str], await self._r.spop(self.keys.pending, PAGE)):
            pipe = self._r.pipeline(transaction=False)
            for member in members:
                kind, _, name = member.partition(":")
                if kind == "a":
                    # Members are interaction ids, so drop by time up to the anchor's ms: an
                    # approval asked ≥ retention_days ago is long settled or expired.
                    pipe.zremrangebyscore(self.keys.awaiting(name), "-inf", ms)
                    continue
                keys = self._prune_keys(kind, name)
                await self._prune(keys=keys, args=[kind, anchor["seq"], ms, part], client=pipe)
            await pipe.execute()

    def _prune_keys(self, kind: str, name: str) -> list[str]:
        if kind == "i":
            return [self.keys.by_interaction(name), self.keys.state(name)]
        index = self.keys.by_user(name) if kind == "u" else self.keys.by_channel(name)
        return [index, index]


class _ChainWalk:
    """The running state of verify(): what the next event must look like."""

    def __init__(self, prev_hash: str, expected_seq: int) -> None:
        self.expected_prev = prev_hash
        self.expected_seq = expected_seq
        self.checked = 0
        self.jump_seq = 0

    def step(self, fields: Mapping[str, str]) -> VerifyResult | Literal["lookahead"] | None:
        """Check one entry; None when it links on, a VerifyResult when the chain breaks."""
        data = _load_entry(fields)
        if data is None:
            label = fields.get("id", "?")
            return _bad("edited", label, self.checked, f"event {label} is not a valid audit event")
        seq = int(data["id"])
        if compute_hash(data) != data.get("hash"):
            return _bad("edited", seq, self.checked, f"event {seq} does not match its hash")
        if seq > self.expected_seq:
            self.jump_seq = seq
            return "lookahead"
        if seq < self.expected_seq:
            return _bad(
                "reordered",
                seq,
                self.checked,
                f"event {seq} is stored after event {self.expected_seq - 1}",
            )
        if data.get("prev_hash") != self.expected_prev:
            # In place, self-consistent, yet not linked: the event before was rewritten
            # together with its hash.
            before = seq - 1
            return _bad(
                "edited",
                before,
                self.checked,
                f"event {before} was rewritten: event {seq}'s prev_hash does not match its hash",
            )
        self.expected_prev = str(data["hash"])
        self.expected_seq += 1
        self.checked += 1
        return None


def _encodable(event: AuditEvent) -> AuditEvent:
    """Slack text can carry lone surrogates (from `\\ud800` escapes) that UTF-8 cannot encode;
    they become U+FFFD rather than making the audit write, and so the interaction, fail."""
    text = event.to_json()
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        clean = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        return AuditEvent.model_validate_json(clean)
    return event


def _load_entry(fields: Mapping[str, str]) -> dict[str, Any] | None:
    try:
        data = json.loads(fields.get("json", ""))
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        return None
    return data


def _bad(kind: ProblemKind, seq: int | str, checked: int, message: str) -> VerifyResult:
    return VerifyResult(
        ok=False, checked=checked, first_bad=str(seq), problem=f"{kind}: {message}", kind=kind
    )


def _archive_path(archive_dir: Path, moment: datetime) -> Path:
    stamp = moment.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    path = archive_dir / f"audit-{stamp}.jsonl"
    n = 1
    while path.exists():  # two runs within a second: never overwrite an archive
        path = archive_dir / f"audit-{stamp}-{n}.jsonl"
        n += 1
    return path


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable too, before the events leave Redis."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
