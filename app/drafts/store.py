"""A draft's state: one Redis hash per draft (`steward:draft:<interaction id>`) and its atomic
transitions.

Every change of status is one Lua call that checks the current status (and step) and writes the
new one, so "first decision wins" holds across processes: of fifty concurrent Approve clicks
exactly one sees `won`, the rest see who decided. Each call carries a click id: when a worker
dies after winning, the queue re-runs the same job, which re-enters as the winner and finishes
the work. Claiming the post works the same way (see `app/approvals.py` for posting).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from pydantic import BaseModel, Field

from app.drafts import views as view
from app.runtime.services import Services

DRAFT_TTL_S = 30 * 24 * 3600

Status = Literal[
    "draft", "pending", "approved", "rejected", "expired", "withdrawn", "discarded", "direct"
]

# KEYS[1] draft hash. ARGV: from (comma list), to, actor, click, expected step ('' = any),
# then field/value pairs to set. Returns {outcome, status, by}.
_TRANSITION = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing', '', ''} end
local by = redis.call('HGET', KEYS[1], 'by') or ''
if ARGV[4] ~= '' and redis.call('HGET', KEYS[1], 'click') == ARGV[4] and status == ARGV[2] then
  return {'won', status, by}
end
local allowed = false
for s in string.gmatch(ARGV[1], '[^,]+') do
  if s == status then allowed = true end
end
if not allowed then return {'lost', status, by} end
if ARGV[5] ~= '' and redis.call('HGET', KEYS[1], 'step') ~= ARGV[5] then
  return {'moved', status, by}
end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'by', ARGV[3], 'click', ARGV[4])
for i = 6, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return {'won', ARGV[2], ARGV[3]}
"""

# Replace the text while the draft is still in `ARGV[1]`; returns the old text, or false.
_SET_TEXT = """
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[1] then return false end
local old = redis.call('HGET', KEYS[1], 'text')
redis.call('HSET', KEYS[1], 'text', ARGV[2])
return old
"""

# Claim the post for click ARGV[1]: {'posted', ts} | {'claimed', attempt} | {'busy'} |
# {'not_ready', status}.
_CLAIM_POST = """
local ts = redis.call('HGET', KEYS[1], 'posted_ts')
if ts then return {'posted', ts} end
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'approved' and status ~= 'direct' then return {'not_ready', status or ''} end
local holder = redis.call('HGET', KEYS[1], 'posting')
if holder and holder ~= ARGV[1] then return {'busy', holder} end
redis.call('HSET', KEYS[1], 'posting', ARGV[1])
return {'claimed', tostring(redis.call('HINCRBY', KEYS[1], 'post_attempts', 1))}
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

    @property
    def target(self) -> str:
        return view.target_label(self.channel_id, self.thread_ts)


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

    def card(self) -> view.DraftCard:
        r = self.record
        return view.DraftCard(
            interaction_id=r.interaction_id,
            text=self.text,
            target=r.target,
            confidence=r.confidence,
            confidence_label=r.confidence_label,
            engine=r.engine,
            model=r.model,
            redactions=r.redactions,
        )


@dataclass(frozen=True)
class Outcome:
    result: Literal["won", "lost", "moved", "missing"]
    status: str
    by: str

    @property
    def won(self) -> bool:
        return self.result == "won"


def _key(interaction_id: str) -> str:
    return f"steward:draft:{interaction_id}"


class Drafts:
    """The draft hashes and their atomic transitions."""

    def __init__(self, services: Services) -> None:
        self.redis = services.redis
        # EVALSHA: the script text crosses the wire once per server, not on every click.
        self._transition = self.redis.register_script(_TRANSITION)
        self._set_text = self.redis.register_script(_SET_TEXT)
        self._claim_post = self.redis.register_script(_CLAIM_POST)

    async def create(self, record: DraftRecord, text: str) -> None:
        key = _key(record.interaction_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(
            key,
            mapping={
                "record": record.model_dump_json(),
                "text": text,
                "status": "draft",
                "step": 0,
            },
        )
        pipe.expire(key, DRAFT_TTL_S)
        await pipe.execute()

    async def get(self, interaction_id: str) -> DraftState | None:
        raw = cast(dict[str, str], await self.redis.hgetall(_key(interaction_id)))
        if not raw or "record" not in raw:
            return None
        return DraftState(
            record=DraftRecord.model_validate_json(raw["record"]),
            text=raw.get("text", ""),
            status=raw.get("status", "draft"),  # type: ignore[arg-type]
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
        )

    async def transition(
        self,
        interaction_id: str,
        from_: Sequence[str],
        to: str,
        *,
        actor: str,
        click: str,
        expect_step: int | None = None,
        **fields: str | int | float,
    ) -> Outcome:
        expected = "" if expect_step is None else str(expect_step)
        args: list[Any] = [",".join(from_), to, actor, click, expected]
        for name, value in fields.items():
            args += [name, value]
        result = await self._transition(keys=[_key(interaction_id)], args=args)
        outcome, status, by = (str(v) for v in result)
        return Outcome(outcome, status, by)  # type: ignore[arg-type]

    async def set_text(self, interaction_id: str, expect: str, text: str) -> str | None:
        """The previous text when replaced; None when the draft is no longer in `expect`."""
        old = await self._set_text(keys=[_key(interaction_id)], args=[expect, text])
        return None if old is None else str(old)

    async def field(self, interaction_id: str, name: str) -> str | None:
        value = await self.redis.hget(_key(interaction_id), name)
        return None if value is None else str(value)

    async def set(self, interaction_id: str, **fields: str | int | float) -> None:
        await self.redis.hset(_key(interaction_id), mapping=dict[Any, Any](fields))

    async def once(self, interaction_id: str, name: str) -> bool:
        """True the first time `name` is claimed for this draft (guards side effects on re-runs)."""
        return bool(await self.redis.hsetnx(_key(interaction_id), f"done:{name}", "1"))

    async def forget(self, interaction_id: str, name: str) -> None:
        """Undo `once(name)`, so the side effect happens again on the next try."""
        await self.redis.hdel(_key(interaction_id), f"done:{name}")

    async def claim_post(self, interaction_id: str, click: str) -> tuple[str, str]:
        result = await self._claim_post(keys=[_key(interaction_id)], args=[click])
        values = [str(v) for v in result]
        return values[0], values[1] if len(values) > 1 else ""
