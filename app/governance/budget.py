"""Token budgets and rate limits, enforced atomically in Redis so they hold across every process.

Three limits, from the policy's `budget` block:

- `user_daily_tokens` and `team_daily_tokens`: counters per UTC day. The day is part of the key,
  so a new day starts at zero without any reset job; the keys expire an hour after their day ends
  (the hour lets a call that straddles midnight still settle against the day it was reserved in).
- `user_requests_per_minute`: a **sliding** window (a sorted set of request times over the last
  60 s). A fixed per-minute counter would let a user make twice the limit across a minute
  boundary; the set holds at most `limit` entries per user, so it stays cheap.

A use case is *admitted* first (`admit`), before any Slack or model work: one Lua script counts
the request against the per-minute window and refuses it when that window is full or a daily
budget is already spent, so a flood of requests is refused before anything is fetched. A call
then reserves its *estimated* tokens before the model is called (`reserve`, with
`count_request=False` when `admit` counted it) and corrects the counters with the real usage
afterwards (`settle`). Each script checks and reserves at once, so concurrent requests from any
number of processes can never overshoot, and a refused request consumes nothing.

Beside the budgets, a per-user cap on jobs in flight (`enter` / `leave`, the setting
`STEWARD_USER_JOBS_IN_FLIGHT`): a user's next request while that many of theirs are running is
refused at once. A slot lapses after `IN_FLIGHT_LAPSE` if its job died without leaving.

Redis keys (the `{team}` hash tag keeps one team's keys in one cluster slot, which a multi-key
Lua script needs on Redis Cluster):

- `steward:budget:{T}:team:tokens:YYYY-MM-DD` (string counter, TTL end of day + 1 h)
- `steward:budget:{T}:user:U:tokens:YYYY-MM-DD` (string counter, TTL end of day + 1 h)
- `steward:budget:{T}:user:U:requests` (sorted set: reservation id → epoch ms, TTL 60 s)
- `steward:budget:{T}:settled:RID` (marker making `settle` idempotent, TTL 2 days)
- `steward:budget:{T}:user:U:in-flight` (sorted set: interaction id → lapse time ms)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import redis.asyncio as aioredis

from app.governance import keys

LimitName = Literal["user_daily_tokens", "team_daily_tokens", "user_requests_per_minute"]

WINDOW = timedelta(minutes=1)
SETTLE_GRACE = timedelta(hours=1)  # day keys outlive their day by this much
SETTLED_MARKER_TTL = timedelta(days=2)
IN_FLIGHT_LAPSE = timedelta(minutes=15)  # a slot whose job died without leaving frees itself


@dataclass(frozen=True)
class Budget:
    """Effective limits for one call (see app.policy.resolve). 0 means nothing is allowed."""

    user_daily_tokens: int
    team_daily_tokens: int
    user_requests_per_minute: int


@dataclass(frozen=True)
class Reservation:
    id: str
    team_id: str
    user_id: str
    tokens: int  # the estimate reserved
    day: date  # the UTC day whose counters were charged
    at: datetime


@dataclass(frozen=True)
class BudgetExceeded:
    which: LimitName
    limit: int
    used: int
    resets_at: datetime  # UTC
    requested: int = 0  # the estimate that did not fit (token limits)

    def message(self) -> str:
        """A sentence for the user (ephemeral message)."""
        when = self.resets_at.strftime("%H:%M:%S UTC")
        if self.which == "user_requests_per_minute":
            return (
                f"You've made {self.used} AI requests in the last minute (limit {self.limit}). "
                f"Try again after {when}."
            )
        whose = "your" if self.which == "user_daily_tokens" else "your team's"
        if self.used < self.limit:  # not used up: this one request is just too big for what's left
            return (
                f"This request needs about {self.requested:,} tokens but only "
                f"{self.limit - self.used:,} of {whose} daily AI budget of {self.limit:,} are "
                f"left. It resets at {when}."
            )
        return (
            f"You've reached {whose} daily AI budget ({self.used:,} of {self.limit:,} tokens). "
            f"It resets at {when}."
        )


@dataclass(frozen=True)
class Usage:
    limit: int
    used: int
    remaining: int
    resets_at: datetime


# Checks all three limits, then reserves all three, or nothing. Keys: user day counter, team day
# counter, request-time set. Returns {"ok"} or {limit name, used, oldest request ms}.
_RESERVE = """
local tokens = tonumber(ARGV[1])
local now = tonumber(ARGV[5])
local user_used = tonumber(redis.call('GET', KEYS[1]) or '0')
local team_used = tonumber(redis.call('GET', KEYS[2]) or '0')
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[8]))
local requests = redis.call('ZCARD', KEYS[3])
if team_used + tokens > tonumber(ARGV[3]) then
  return {'team_daily_tokens', team_used, 0}
end
if user_used + tokens > tonumber(ARGV[2]) then
  return {'user_daily_tokens', user_used, 0}
end
local count_request = ARGV[9] == '1'
if count_request and requests >= tonumber(ARGV[4]) then
  local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  return {'user_requests_per_minute', requests, oldest[2] or now}
end
redis.call('INCRBY', KEYS[1], tokens)
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('INCRBY', KEYS[2], tokens)
redis.call('EXPIRE', KEYS[2], ARGV[6])
if count_request then
  redis.call('ZADD', KEYS[3], now, ARGV[7])
  redis.call('PEXPIRE', KEYS[3], ARGV[8])
end
return {'ok'}
"""

# Admission, before any work: a daily budget already spent, or a full per-minute window, refuses
# the request; else it is counted in the window. Keys and the reply as in _RESERVE; ARGV: user
# limit, team limit, per-minute limit, now ms, request id, window ms.
_ADMIT = """
local now = tonumber(ARGV[4])
local user_used = tonumber(redis.call('GET', KEYS[1]) or '0')
local team_used = tonumber(redis.call('GET', KEYS[2]) or '0')
if team_used >= tonumber(ARGV[2]) then
  return {'team_daily_tokens', team_used, 0}
end
if user_used >= tonumber(ARGV[1]) then
  return {'user_daily_tokens', user_used, 0}
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[6]))
local requests = redis.call('ZCARD', KEYS[3])
if requests >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  return {'user_requests_per_minute', requests, oldest[2] or now}
end
redis.call('ZADD', KEYS[3], now, ARGV[5])
redis.call('PEXPIRE', KEYS[3], ARGV[6])
return {'ok'}
"""

# A slot among the user's jobs in flight. KEYS[1]: the in-flight set; ARGV: now ms, job's
# interaction id, lapse ms, cap. 1 when the job holds a slot (a re-run keeps its own).
_ENTER = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local mine = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not mine and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

# Adjusts both day counters by (actual - estimate), once per reservation, never below zero, and
# never recreating a counter that already expired (that would leave a key without a TTL).
_SETTLE = """
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[2]) then
  return 0
end
local delta = tonumber(ARGV[1])
for i = 1, 2 do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    if redis.call('INCRBY', KEYS[i], delta) < 0 then
      redis.call('SET', KEYS[i], 0, 'KEEPTTL')
    end
  end
end
return 1
"""


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)


def _day_end(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class Budgets:
    """Reserve, settle and report budgets; one instance per process is enough."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._reserve = redis.register_script(_RESERVE)
        self._settle = redis.register_script(_SETTLE)
        self._admit = redis.register_script(_ADMIT)
        self._enter = redis.register_script(_ENTER)

    async def admit(
        self, team_id: str, user_id: str, budget: Budget, now: datetime | None = None
    ) -> BudgetExceeded | None:
        """Count one request, or say which limit refuses it: the per-minute window is full, or
        a daily budget is already spent. Called before any work, so a refused request costs a
        single Redis call."""
        moment = _utc(now)
        day = moment.date()
        result: list[Any] = await self._admit(
            keys=[
                keys.user_tokens(team_id, user_id, day),
                keys.team_tokens(team_id, day),
                keys.user_requests(team_id, user_id),
            ],
            args=[
                budget.user_daily_tokens,
                budget.team_daily_tokens,
                budget.user_requests_per_minute,
                _ms(moment),
                uuid.uuid4().hex,
                int(WINDOW.total_seconds() * 1000),
            ],
        )
        if result[0] == "ok":
            return None
        return _exceeded(result, budget, day, 0)

    async def enter(self, team_id: str, user_id: str, job_id: str, cap: int) -> bool:
        """Take one of the user's `cap` slots for jobs in flight; False when all are taken.
        The same job entering again (a retry) keeps its slot."""
        taken = await self._enter(
            keys=[keys.user_in_flight(team_id, user_id)],
            args=[
                _ms(_utc(None)),
                job_id,
                int(IN_FLIGHT_LAPSE.total_seconds() * 1000),
                cap,
            ],
        )
        return bool(taken)

    async def leave(self, team_id: str, user_id: str, job_id: str) -> None:
        await self.redis.zrem(keys.user_in_flight(team_id, user_id), job_id)

    async def reserve(
        self,
        team_id: str,
        user_id: str,
        estimated_tokens: int,
        budget: Budget,
        now: datetime | None = None,
        *,
        count_request: bool = True,
    ) -> Reservation | BudgetExceeded:
        """Reserve `estimated_tokens` and (unless `admit` counted it) one request, or explain
        which limit stops it."""
        if estimated_tokens < 0:
            raise ValueError("estimated_tokens must not be negative")
        moment = _utc(now)
        day = moment.date()
        reservation_id = uuid.uuid4().hex
        day_ttl = _day_end(day) + SETTLE_GRACE - moment
        result: list[Any] = await self._reserve(
            keys=[
                keys.user_tokens(team_id, user_id, day),
                keys.team_tokens(team_id, day),
                keys.user_requests(team_id, user_id),
            ],
            args=[
                estimated_tokens,
                budget.user_daily_tokens,
                budget.team_daily_tokens,
                budget.user_requests_per_minute,
                _ms(moment),
                max(1, int(day_ttl.total_seconds())),
                reservation_id,
                int(WINDOW.total_seconds() * 1000),
                "1" if count_request else "0",
            ],
        )
        if result[0] == "ok":
            return Reservation(reservation_id, team_id, user_id, estimated_tokens, day, moment)
        return _exceeded(result, budget, day, estimated_tokens)

    async def settle(self, reservation: Reservation, actual_tokens: int) -> bool:
        """Correct the day counters to the real usage; `actual_tokens=0` refunds a failed call.

        Idempotent: a retried job settling the same reservation twice changes nothing the second
        time (returns False). The request still counts against the per-minute limit.
        """
        if actual_tokens < 0:
            raise ValueError("actual_tokens must not be negative")
        r = reservation
        done = await self._settle(
            keys=[
                keys.user_tokens(r.team_id, r.user_id, r.day),
                keys.team_tokens(r.team_id, r.day),
                keys.settled(r.team_id, r.id),
            ],
            args=[actual_tokens - r.tokens, int(SETTLED_MARKER_TTL.total_seconds())],
        )
        return bool(done)

    async def remaining(
        self, team_id: str, user_id: str, budget: Budget, now: datetime | None = None
    ) -> dict[LimitName, Usage]:
        """What is left of each limit right now (for `/steward policy`)."""
        moment = _utc(now)
        day = moment.date()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.user_tokens(team_id, user_id, day))
            pipe.get(keys.team_tokens(team_id, day))
            pipe.zrangebyscore(
                keys.user_requests(team_id, user_id),
                _ms(moment - WINDOW) + 1,
                "+inf",
                withscores=True,
            )
            user_used, team_used, recent = await pipe.execute()
        midnight = _day_end(day)
        oldest = _from_ms(recent[0][1]) + WINDOW if recent else moment
        return {
            "user_daily_tokens": _usage(budget.user_daily_tokens, int(user_used or 0), midnight),
            "team_daily_tokens": _usage(budget.team_daily_tokens, int(team_used or 0), midnight),
            "user_requests_per_minute": _usage(
                budget.user_requests_per_minute, len(recent), oldest
            ),
        }


def _from_ms(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value) / 1000, UTC)


def _usage(limit: int, used: int, resets_at: datetime) -> Usage:
    return Usage(limit, used, max(0, limit - used), resets_at)


def _exceeded(result: list[Any], budget: Budget, day: date, requested: int) -> BudgetExceeded:
    which: LimitName = result[0]
    used = int(result[1])
    if which == "user_requests_per_minute":
        # The window frees a slot when its oldest request turns a minute old.
        return BudgetExceeded(
            which, budget.user_requests_per_minute, used, _from_ms(result[2]) + WINDOW
        )
    return BudgetExceeded(which, getattr(budget, which), used, _day_end(day), requested)
