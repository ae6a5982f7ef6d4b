"""Running totals: what each append adds to the usage counters, and reading them back.

The append script (`app.audit.scripts`) applies, in the same atomic step that stores the event:

- to the hash of the event's UTC hour (by `at`, key `usage_hour`): `events`, `ev:<event>`; for a
  `requested` event `uc:<use case>`, `ch:<channel>`, `us:<actor>`; `ti:`/`to:<[model, engine]>`
  (tokens in and out, cost inputs priced when read); `r:<kind>` (redactions); `f:<reason>`
  (failures), `x:<reason>` (refusals), `fb:up`/`fb:down`; `low` (low-confidence outputs); and
  `d:<ms>` (a decision that took that long, counted in the decision's hour);
- the `usage_open` zset (pending approvals), the newest rejections and low-confidence outputs.

`UsageAggregator` (`app.audit.usage`) folds events the same way, so a recount from an export
gives the same numbers; `increments` here is the one place that decides what an event adds.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import redis.asyncio as aioredis

from app.audit.event import AuditEvent, format_at
from app.audit.keys import AuditKeys

LOW_CONFIDENCE = 0.5
HOUR = timedelta(hours=1)


def hour_of(at: str) -> str:
    """`2024-06-30T12:34:56.000000Z` -> `2024-06-30T12`: the bucket an event counts in."""
    return at[:13]


def model_key(event: AuditEvent) -> str | None:
    """The `[model, engine]` an event's tokens are priced by; None when it used none."""
    if not (event.tokens_in or event.tokens_out):
        return None
    model = event.model or ("offline" if event.engine == "offline" else "unknown")
    return json.dumps([model, event.engine], separators=(",", ":"), ensure_ascii=False)


def is_low_confidence(event: AuditEvent) -> bool:
    return (
        event.event == "generated"
        and event.confidence is not None
        and event.confidence < LOW_CONFIDENCE
    )


def increments(event: AuditEvent) -> dict[str, int]:
    """What the event adds to its hour's totals (the script adds `d:<ms>` itself)."""
    add: Counter[str] = Counter({"events": 1, f"ev:{event.event}": 1})
    if event.event == "requested":
        add[f"uc:{event.use_case or 'unknown'}"] += 1
        if event.channel_id:
            add[f"ch:{event.channel_id}"] += 1
        if event.actor_id:
            add[f"us:{event.actor_id}"] += 1
    if (model := model_key(event)) is not None:
        add[f"ti:{model}"] += event.tokens_in or 0
        add[f"to:{model}"] += event.tokens_out or 0
    for kind, count in event.redactions.items():
        add[f"r:{kind}"] += count
    if event.event == "failed":
        add[f"f:{event.reason or 'unspecified'}"] += 1
    elif event.event == "refused":
        add[f"x:{event.reason or 'unspecified'}"] += 1
    elif event.event == "feedback" and event.reason in ("up", "down"):
        add[f"fb:{event.reason}"] += 1
    elif is_low_confidence(event):
        add["low"] += 1
    return dict(add)


def rejection_record(event: AuditEvent) -> str:
    if event.event != "rejected":
        return ""
    return json.dumps(
        {
            "interaction_id": event.interaction_id,
            "at": event.at,
            "use_case": event.use_case,
            "channel_id": event.channel_id,
            "approver_id": event.approver_id or event.actor_id,
            "reason": event.reason,
        }
    )


def low_confidence_record(event: AuditEvent) -> str:
    if not is_low_confidence(event):
        return ""
    return json.dumps(
        {
            "interaction_id": event.interaction_id,
            "at": event.at,
            "use_case": event.use_case,
            "actor_id": event.actor_id,
            "channel_id": event.channel_id,
            "confidence": event.confidence,
        }
    )


def totals_fields(event: AuditEvent) -> list[Any]:
    """What the append script needs for the totals: increments, approval status (or ""), and
    the rejection and low-confidence records (JSON text, or "")."""
    return [
        increments(event),
        event.approval_status or "",
        rejection_record(event),
        low_confidence_record(event),
    ]


def three_digits(took_ms: int) -> int:
    """A decision time in ms rounded to three significant digits (half up), as the script does."""
    if took_ms < 1000:
        return took_ms
    step = 10 ** (len(str(took_ms)) - 3)
    return (took_ms + step // 2) // step * step


def window_start(until: datetime, days: int) -> datetime:
    """A window counts whole hours: it starts at the top of the hour `days` before `until`."""
    since = until - timedelta(days=days)
    return since.replace(minute=0, second=0, microsecond=0)


def _hours(start: datetime, end: datetime) -> list[str]:
    """The hour buckets from `start` (an hour's top) through the one holding `end`."""
    hours, moment = [], start
    while moment <= end:
        hours.append(hour_of(format_at(moment)))
        moment += HOUR
    return hours


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


class Totals:
    """One read of the counters for several windows that end at the same moment `until`.

    A window sums the hours of its first (partial) day from its start, the whole days between,
    and the hours of `until`'s day: a 30-day window reads about 30 day hashes and 48 hours.
    """

    def __init__(
        self,
        until: datetime,
        hours: dict[str, dict[str, str]],
        days: dict[str, dict[str, str]],
        pending: dict[str, int],
        rejections: list[dict[str, Any]],
        low: list[dict[str, Any]],
    ) -> None:
        self.until = until
        self.hours = hours
        self.days = days
        self.pending = pending  # by window start (`format_at`)
        self.rejections = rejections  # newest first
        self.low = low

    @classmethod
    async def read(
        cls, redis: aioredis.Redis, keys: AuditKeys, starts: Sequence[datetime], until: datetime
    ) -> Totals:
        last_day = _midnight(until)
        hours = set(_hours(last_day, until))
        for since in starts:
            hours.update(_hours(since, min(until, _midnight(since) + timedelta(hours=23))))
        first_day = _midnight(min(starts)) + timedelta(days=1)
        day_names = [
            format_at(first_day + timedelta(days=k))[:10]
            for k in range(max(0, (last_day - first_day).days))
        ]
        hour_names = sorted(hours)
        pipe = redis.pipeline(transaction=False)
        for name in hour_names:
            pipe.hgetall(keys.usage_hour(name))
        for name in day_names:
            pipe.hgetall(keys.usage_day(name))
        high = f"({int(until.timestamp() * 1000)}"
        for since in starts:  # counted in Redis: there may be many thousands pending
            pipe.zcount(keys.usage_open, int(since.timestamp() * 1000), high)
        pipe.lrange(keys.usage_rejections, 0, -1)
        pipe.lrange(keys.usage_low, 0, -1)
        replies = await pipe.execute()
        split = len(hour_names) + len(day_names)
        buckets = cast(list[dict[str, str]], replies[:split])
        pending = cast(list[int], replies[split : split + len(starts)])
        rejections, low = cast(list[list[str]], replies[split + len(starts) :])
        return cls(
            until,
            dict(zip(hour_names, buckets[: len(hour_names)], strict=True)),
            dict(zip(day_names, buckets[len(hour_names) :], strict=True)),
            {format_at(since): count for since, count in zip(starts, pending, strict=True)},
            [json.loads(item) for item in rejections],
            [json.loads(item) for item in low],
        )

    def window(self, since: datetime) -> WindowTotals:
        """The totals from `since` (an hour's top) to `until`, the lists cut to the window."""
        first, start_hour = format_at(since)[:10], hour_of(format_at(since))
        last = format_at(self.until)[:10]
        out = WindowTotals()
        for name, bucket in self.hours.items():
            if name[:10] == last or (name[:10] == first and name >= start_hour):
                out.add_all(bucket)
        for name, bucket in self.days.items():
            if first < name < last:
                out.add_all(bucket)
        out.pending = self.pending[format_at(since)]
        low_at, high_at = format_at(since), format_at(self.until)
        out.rejections = [r for r in self.rejections if low_at <= r["at"] < high_at]
        out.low = [x for x in self.low if low_at <= x["at"] < high_at]
        return out


@dataclass
class WindowTotals:
    """One window's counters, summed over its hours; the lists newest first."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)  # by field prefix, then key
    tokens: dict[tuple[str, str | None], list[int]] = field(default_factory=dict)
    decision_ms: Counter[int] = field(default_factory=Counter)
    pending: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)
    low: list[dict[str, Any]] = field(default_factory=list)

    def add_all(self, bucket: dict[str, str]) -> None:
        """Add one hash's fields: the views' hot loop, hence the plain dict lookups."""
        counts = self.counts
        for name, raw in bucket.items():
            kind, _, key = name.partition(":")
            if kind in ("ti", "to", "d"):
                self.add(name, int(raw))
                continue
            counter = counts.get(kind)
            if counter is None:
                counter = counts[kind] = Counter()
            counter[key] += int(raw)

    def count(self, kind: str) -> Counter[str]:
        return self.counts.setdefault(kind, Counter())

    def add(self, name: str, value: int) -> None:
        kind, _, key = name.partition(":")
        if kind in ("ti", "to"):
            model, engine = cast(Sequence[Any], json.loads(key))
            pair = self.tokens.setdefault((str(model), engine), [0, 0])
            pair[0 if kind == "ti" else 1] += value
        elif kind == "d":
            self.decision_ms[int(key)] += value
        else:  # `events` and `low` have no key: they count under ""
            self.count(kind)[key] += value
