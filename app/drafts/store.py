"""A draft's state: one Redis hash per draft (`app/drafts/keys.py`) and its atomic transitions.

Every change of status is one Lua call that checks the current status (and step), writes the
new one and answers with the whole draft as it now is, so "first decision wins" holds across
processes and the caller never reads the hash again to see what it wrote: of fifty concurrent
Approve clicks exactly one sees `won`, the rest see who decided. Each call carries a click id:
when a worker dies after winning, the queue re-runs the same job, which re-enters as the winner
and finishes the work. Claiming the post works the same way, on its own or in the same call as
the transition that makes a draft postable (see `app/drafts/posting.py`).

A job builds one `Drafts` and hands it down; the scripts are sent by SHA (EVALSHA), so their text
crosses the wire once per server, not on every click.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

import redis.asyncio as aioredis
from pydantic import BaseModel, Field

from app.drafts import keys

DRAFT_TTL_S = 30 * 24 * 3600

Status = Literal[
    "draft", "pending", "approved", "rejected", "expired", "withdrawn", "discarded", "direct"
]
Result = Literal["won", "lost", "moved", "missing"]
STATUSES: tuple[Status, ...] = get_args(Status)
RESULTS: tuple[Result, ...] = get_args(Result)

# claim(key, click): {'posted', ts} | {'claimed', attempt} | {'busy', holder} |
# {'not_ready', status}. The post is claimable once the draft is approved (or posted directly),
# until an admin cancels a post that keeps failing (`post_cancelled`). A failed attempt gives the
# claim back (`release_post` deletes `posting`; an empty holder, which Lua treats as true, is
# free too), so the retry timer can claim it.
_CLAIM = """
local function claim(key, click)
  local ts = redis.call('HGET', key, 'posted_ts')
  if ts then return {'posted', ts} end
  local status = redis.call('HGET', key, 'status')
  if status ~= 'approved' and status ~= 'direct' then return {'not_ready', status or ''} end
  if redis.call('HGET', key, 'post_cancelled') then return {'not_ready', 'cancelled'} end
  local holder = redis.call('HGET', key, 'posting')
  if holder and holder ~= '' and holder ~= click then return {'busy', holder} end
  redis.call('HSET', key, 'posting', click)
  return {'claimed', tostring(redis.call('HINCRBY', key, 'post_attempts', 1))}
end
"""

# KEYS[1] draft hash. ARGV: from (comma list), to, actor, click, expected step ('' = any),
# claim the post when won ('1' | ''), then field/value pairs to set.
# Returns {outcome, claim, claim detail, field, value, ...}: the hash after the call.
_TRANSITION = (
    _CLAIM
    + """
local function answer(outcome)
  local c = {'', ''}
  if outcome == 'won' and ARGV[6] == '1' then c = claim(KEYS[1], ARGV[4]) end
  local out = {outcome, c[1], c[2]}
  for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do out[#out + 1] = v end
  return out
end
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing', '', ''} end
if ARGV[4] ~= '' and redis.call('HGET', KEYS[1], 'click') == ARGV[4] and status == ARGV[2] then
  return answer('won')
end
local allowed = false
for s in string.gmatch(ARGV[1], '[^,]+') do
  if s == status then allowed = true end
end
if not allowed then return answer('lost') end
if ARGV[5] ~= '' and redis.call('HGET', KEYS[1], 'step') ~= ARGV[5] then
  return answer('moved')
end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'by', ARGV[3], 'click', ARGV[4])
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return answer('won')
"""
)

# Replace the text while the draft is still in `ARGV[1]`; returns the old text, or false.
_SET_TEXT = """
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[1] then return false end
local old = redis.call('HGET', KEYS[1], 'text')
redis.call('HSET', KEYS[1], 'text', ARGV[2])
return old
"""

_CLAIM_POST = _CLAIM + "return claim(KEYS[1], ARGV[1])\n"

# Give the claim back after a failed attempt, only if `ARGV[1]` still holds it; set the retry
# fields (ARGV[2..] pairs) in the same step.
_RELEASE_POST = """
if redis.call('HGET', KEYS[1], 'posting') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'posting')
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""

# An admin cancels a post that keeps failing: {'posted', ts} | {'busy', holder} (an attempt is
# running) | {'cancelled', by} (already, or now, by ARGV[1]) | {'not_failing', ''}.
_CANCEL_POST = """
local ts = redis.call('HGET', KEYS[1], 'posted_ts')
if ts then return {'posted', ts} end
local by = redis.call('HGET', KEYS[1], 'post_cancelled')
if by then return {'cancelled', by} end
if not redis.call('HGET', KEYS[1], 'post_error') then return {'not_failing', ''} end
local holder = redis.call('HGET', KEYS[1], 'posting')
if holder and holder ~= '' then return {'busy', holder} end
redis.call('HSET', KEYS[1], 'post_cancelled', ARGV[1])
return {'cancelled', ARGV[1]}
"""


class DraftRecord(BaseModel):
    """What a draft is about; fixed once generated."""

    interaction_id: str
    team_id: str
    user_id: str  # the requester
    channel_id: str  # where it will be posted
    thread_ts: str | None = None
    request: str
    engine: str
    model: str
    confidence: float
    confidence_label: str
    redactions: int = 0
    rule: str = ""
    reply_channel: str | None = None
    reply_thread_ts: str | None = None
    needs_approval: bool = False
    created_at: float = Field(default_factory=time.time)


class DraftState(BaseModel):
    record: DraftRecord
    text: str
    status: Status
    step: int = 0
    by: str = ""
    reason: str = ""
    approval_channel: str | None = None
    approval_ts: str | None = None
    parent_ts: str | None = None
    submitted_at: float | None = None
    posted_ts: str | None = None
    previous_text: str | None = None  # before an approver's edit
    approvers: list[str] = Field(default_factory=list)  # of the current step
    group: str = ""
    steps: list[tuple[str, float]] = Field(default_factory=list)  # (group, after seconds)
    post_attempts: int = 0  # post attempts claimed so far
    post_error: str = ""  # Slack's error on the last failed post attempt ("" = none failed)
    post_retry_at: float | None = None  # when the retry timer tries again
    post_cancelled: str = ""  # the admin who cancelled a post that kept failing


PostClaim = tuple[
    str, str
]  # ('posted', ts) | ('claimed', attempt) | ('busy', …) | ('not_ready', …)


@dataclass(frozen=True)
class Outcome:
    result: Result
    status: str
    by: str
    state: DraftState | None = None  # the draft after the call (None when it is gone)
    claim: PostClaim | None = None  # when the transition was asked to claim the post and won

    @property
    def won(self) -> bool:
        return self.result == "won"


def _status(value: str) -> Status:
    for status in STATUSES:
        if status == value:
            return status
    raise ValueError(f"a draft cannot be {value!r}")


def _result(value: str) -> Result:
    for result in RESULTS:
        if result == value:
            return result
    raise ValueError(f"a transition cannot end {value!r}")


def _state(raw: Mapping[str, str]) -> DraftState | None:
    if "record" not in raw:
        return None
    return DraftState(
        record=DraftRecord.model_validate_json(raw["record"]),
        text=raw.get("text", ""),
        status=_status(raw.get("status", "draft")),
        step=int(raw.get("step") or 0),
        by=raw.get("by", ""),
        reason=raw.get("reason", ""),
        approval_channel=raw.get("approval_channel") or None,
        approval_ts=raw.get("approval_ts") or None,
        parent_ts=raw.get("parent_ts") or None,
        submitted_at=float(raw["submitted_at"]) if raw.get("submitted_at") else None,
        posted_ts=raw.get("posted_ts") or None,
        previous_text=raw.get("previous_text"),
        approvers=json.loads(raw.get("approvers") or "[]"),
        group=raw.get("group", ""),
        steps=[(str(g), float(a)) for g, a in json.loads(raw.get("steps") or "[]")],
        post_attempts=int(raw.get("post_attempts") or 0),
        post_error=raw.get("post_error", ""),
        post_retry_at=float(raw["post_retry_at"]) if raw.get("post_retry_at") else None,
        post_cancelled=raw.get("post_cancelled", ""),
    )


class Drafts:
    """The draft hashes and their atomic transitions, over one Redis client."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._transition = redis.register_script(_TRANSITION)
        self._set_text = redis.register_script(_SET_TEXT)
        self._claim_post = redis.register_script(_CLAIM_POST)
        self._release_post = redis.register_script(_RELEASE_POST)
        self._cancel_post = redis.register_script(_CANCEL_POST)

    async def create(self, record: DraftRecord, text: str) -> DraftState:
        key = keys.draft(record.interaction_id)
        fields = {"record": record.model_dump_json(), "text": text, "status": "draft", "step": 0}
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, mapping=dict[Any, Any](fields))
        pipe.expire(key, DRAFT_TTL_S)
        await pipe.execute()
        return DraftState(record=record, text=text, status="draft")

    async def get(self, interaction_id: str) -> DraftState | None:
        raw = cast(dict[str, str], await self.redis.hgetall(keys.draft(interaction_id)))
        return _state(raw)

    async def transition(
        self,
        interaction_id: str,
        from_: Sequence[str],
        to: Status,
        *,
        actor: str,
        click: str,
        expect_step: int | None = None,
        claim_post: bool = False,
        **fields: str | int | float,
    ) -> Outcome:
        """Move the draft from one of `from_` to `to` (at `expect_step`), setting `fields`; with
        `claim_post`, a win also claims the post for `click` in the same call."""
        expected = "" if expect_step is None else str(expect_step)
        args: list[Any] = [",".join(from_), to, actor, click, expected, "1" if claim_post else ""]
        for name, value in fields.items():
            args += [name, value]
        reply = [
            str(v) for v in await self._transition(keys=[keys.draft(interaction_id)], args=args)
        ]
        result, claim, detail, flat = _result(reply[0]), reply[1], reply[2], reply[3:]
        state = _state(dict(zip(flat[::2], flat[1::2], strict=True)))
        if state is None:
            return Outcome(result, "", "")
        return Outcome(result, state.status, state.by, state, (claim, detail) if claim else None)

    async def set_text(self, interaction_id: str, expect: str, text: str) -> str | None:
        """The previous text when replaced; None when the draft is no longer in `expect`."""
        old = await self._set_text(keys=[keys.draft(interaction_id)], args=[expect, text])
        return None if old is None else str(old)

    async def set(self, interaction_id: str, **fields: str | int | float) -> None:
        await self.redis.hset(keys.draft(interaction_id), mapping=dict[Any, Any](fields))

    async def once(self, interaction_id: str, name: str) -> bool:
        """True the first time `name` is claimed for this draft (guards side effects on re-runs)."""
        return bool(await self.redis.hsetnx(keys.draft(interaction_id), f"done:{name}", "1"))

    async def forget(self, interaction_id: str, name: str) -> None:
        """Undo `once(name)`, so the side effect happens again on the next try."""
        await self.redis.hdel(keys.draft(interaction_id), f"done:{name}")

    async def claim_post(self, interaction_id: str, click: str) -> PostClaim:
        result = await self._claim_post(keys=[keys.draft(interaction_id)], args=[click])
        values = [str(v) for v in result]
        return values[0], values[1] if len(values) > 1 else ""

    async def release_post(
        self, interaction_id: str, click: str, **fields: str | int | float
    ) -> bool:
        """After a failed attempt: give the claim back (if `click` still holds it) and set
        `fields` (the error, when the retry is due), so the retry timer can claim it."""
        args: list[Any] = [click]
        for name, value in fields.items():
            args += [name, value]
        return bool(await self._release_post(keys=[keys.draft(interaction_id)], args=args))

    async def cancel_post(self, interaction_id: str, admin: str) -> tuple[str, str]:
        """('cancelled', by) | ('posted', ts) | ('busy', holder) | ('not_failing', '')."""
        result = await self._cancel_post(keys=[keys.draft(interaction_id)], args=[admin])
        values = [str(v) for v in result]
        return values[0], values[1] if len(values) > 1 else ""
