"""Usage over a window of days: what admins see in App Home, `/steward usage` and `steward usage`.

The views read running totals that the append script keeps per UTC hour and day
(`app.audit.totals`), never the raw stream: their cost depends on the window and on how many
users, channels and models there are, not on how many events.
`UsageAggregator` folds events one at a time into the same report: it is the definition the
totals follow, and how an export is recounted (`aggregate`).

Definitions (so numbers can be checked against an export):
- a window of N days counts whole hours: from the top of the hour N days before now, to now;
- an *interaction* is a `requested` event; by use case, channel and user likewise;
- *approval rate* = approved / (approved + rejected) among decisions in the window;
- *time to decision* runs from an interaction's first `approval_requested` to its `approved`/
  `rejected` event, counted when the decision falls in the window; each is measured in whole
  ms and rounded to three significant digits (`totals.three_digits`: 46,771 ms counts as
  46,800), so a busy day's totals hold a few hundred distinct values, not one per decision;
- *pending* = interactions whose latest approval status is pending or escalated, set in the window;
- *low confidence* = `generated` events with confidence < 0.5;
- tokens and redactions are summed over every event; cost comes from app/audit/pricing.py,
  applied at read time to the tokens per model.

Retention (`app.audit.archive`) moves old events to JSONL archive files but does not change the
totals: archived events still happened, so a window reaching back past the retention period is
recounted from the archive files plus the stream. The totals expire 400 days after they were
started, past the longest window (365 days).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel

from app.audit.event import AuditEvent, format_at, utcnow
from app.audit.log import AuditLog
from app.audit.pricing import PriceTable
from app.audit.query import ms
from app.audit.scripts import LISTED
from app.audit.totals import LOW_CONFIDENCE, Totals, WindowTotals, three_digits, window_start

TOP = 10  # rows kept in each breakdown
OPEN_STATUSES = {"pending", "escalated"}
DECISIONS = {"approved", "rejected"}


class Count(BaseModel):
    key: str
    count: int


class ModelUsage(BaseModel):
    model: str
    engine: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None  # None: the model is not in the price table


class Rejection(BaseModel):
    interaction_id: str
    at: str
    use_case: str | None = None
    channel_id: str | None = None
    approver_id: str | None = None  # who rejected
    reason: str | None = None


class LowConfidenceOutput(BaseModel):
    interaction_id: str
    at: str
    use_case: str | None = None
    actor_id: str | None = None
    channel_id: str | None = None
    confidence: float


class UsageReport(BaseModel):
    """The numbers for one window. Breakdowns are sorted, largest first, at most TOP rows."""

    days: int
    since: str
    until: str
    events: int = 0
    interactions: int = 0
    by_use_case: list[Count] = []
    by_channel: list[Count] = []
    top_users: list[Count] = []
    approvals_requested: int = 0
    approved: int = 0
    rejected: int = 0
    escalated: int = 0
    expired: int = 0
    approval_rate: float | None = None
    median_decision_seconds: float | None = None
    pending_approvals: int = 0
    rejections: list[Rejection] = []  # newest first
    generated: int = 0
    low_confidence: int = 0
    low_confidence_outputs: list[LowConfidenceOutput] = []  # newest first
    redactions: dict[str, int] = {}
    tokens_in: int = 0
    tokens_out: int = 0
    models: list[ModelUsage] = []
    cost_usd: float = 0.0  # priced models only
    unpriced_tokens: int = 0
    prices_source: str = "built-in"
    failures: int = 0
    failures_by_reason: list[Count] = []
    refusals: int = 0
    refusals_by_reason: list[Count] = []
    feedback_up: int = 0
    feedback_down: int = 0


def _ms(event: AuditEvent) -> int:
    """The event's time in whole ms, as the append script counts it (time to decision)."""
    return ms(datetime.fromisoformat(event.at))


def _median_seconds(counts: Counter[int]) -> float | None:
    """The median of the counted values (ms), in seconds: the middle one, or the mean of the
    middle two, as statistics.median would give over the values listed one by one."""
    total = sum(counts.values())
    if not total:
        return None
    wanted = [(total - 1) // 2, total // 2]  # positions of the middle value(s), 0-based
    found: list[int] = []
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        while wanted and wanted[0] < seen:
            found.append(value)
            wanted.pop(0)
        if not wanted:
            break
    return sum(found) / len(found) / 1000


def _top(counter: Counter[str], n: int = TOP) -> list[Count]:
    # Ties break on the key, so the same events always give the same report.
    ordered = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
    return [Count(key=key, count=count) for key, count in ordered[:n]]


@dataclass
class UsageAggregator:
    """Folds events (oldest first) into one window's report."""

    days: int
    since: datetime
    until: datetime
    prices: PriceTable
    events: int = 0
    by_use_case: Counter[str] = field(default_factory=Counter)
    by_channel: Counter[str] = field(default_factory=Counter)
    by_user: Counter[str] = field(default_factory=Counter)
    by_event: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    redactions: Counter[str] = field(default_factory=Counter)
    tokens: dict[tuple[str, str | None], list[int]] = field(default_factory=dict)
    feedback: Counter[str] = field(default_factory=Counter)
    requested_at: dict[str, int] = field(default_factory=dict)  # open approvals only, in ms
    open_status: dict[str, str] = field(default_factory=dict)
    decision_ms: Counter[int] = field(default_factory=Counter)  # rounded ms -> decisions
    rejections: deque[Rejection] = field(default_factory=lambda: deque(maxlen=LISTED))
    low: deque[LowConfidenceOutput] = field(default_factory=lambda: deque(maxlen=LISTED))
    low_count: int = 0
    pending: int | None = None  # from the totals; else the open approvals folded

    def add(self, event: AuditEvent) -> None:
        self.events += 1
        self.by_event[event.event] += 1
        if event.event == "requested":
            self.by_use_case[event.use_case or "unknown"] += 1
            if event.channel_id:
                self.by_channel[event.channel_id] += 1
            if event.actor_id:
                self.by_user[event.actor_id] += 1
        self._tokens(event)
        for kind, count in event.redactions.items():
            self.redactions[kind] += count
        self._approval(event)
        self._outcome(event)

    def _tokens(self, event: AuditEvent) -> None:
        if not (event.tokens_in or event.tokens_out):
            return
        model = event.model or ("offline" if event.engine == "offline" else "unknown")
        totals = self.tokens.setdefault((model, event.engine), [0, 0])
        totals[0] += event.tokens_in or 0
        totals[1] += event.tokens_out or 0

    def remember(self, event: AuditEvent) -> None:
        """An event before the window: only when an approval was asked (time to decision)."""
        iid, status = event.interaction_id, event.approval_status
        if event.event == "approval_requested":
            self.requested_at.setdefault(iid, _ms(event))
        if event.event in DECISIONS or (status is not None and status not in OPEN_STATUSES):
            self.requested_at.pop(iid, None)

    def _approval(self, event: AuditEvent) -> None:
        iid = event.interaction_id
        if event.event == "approval_requested":
            self.requested_at.setdefault(iid, _ms(event))
        if event.event in DECISIONS:
            asked = self.requested_at.pop(iid, None)
            if asked is not None:
                self.decision_ms[three_digits(max(0, _ms(event) - asked))] += 1
        status = event.approval_status
        if status in OPEN_STATUSES:
            self.open_status[iid] = status
        elif status is not None:
            self.open_status.pop(iid, None)
            if event.event not in DECISIONS:  # settled otherwise (expired, withdrawn)
                self.requested_at.pop(iid, None)
        if event.event == "rejected":
            self.rejections.appendleft(
                Rejection(
                    interaction_id=iid,
                    at=event.at,
                    use_case=event.use_case,
                    channel_id=event.channel_id,
                    approver_id=event.approver_id or event.actor_id,
                    reason=event.reason,
                )
            )

    def _outcome(self, event: AuditEvent) -> None:
        if event.event == "failed":
            self.failures[event.reason or "unspecified"] += 1
        elif event.event == "refused":
            self.refusals[event.reason or "unspecified"] += 1
        elif event.event == "feedback" and event.reason in ("up", "down"):
            self.feedback[event.reason] += 1
        elif (
            event.event == "generated"
            and event.confidence is not None
            and event.confidence < LOW_CONFIDENCE
        ):
            self.low_count += 1
            self.low.appendleft(
                LowConfidenceOutput(
                    interaction_id=event.interaction_id,
                    at=event.at,
                    use_case=event.use_case,
                    actor_id=event.actor_id,
                    channel_id=event.channel_id,
                    confidence=event.confidence,
                )
            )

    def absorb(self, totals: WindowTotals) -> None:
        """Take a window's running totals instead of folding its events."""
        self.events += totals.count("events")[""]
        self.low_count += totals.count("low")[""]
        for kind, counter in (
            ("ev", self.by_event),
            ("uc", self.by_use_case),
            ("ch", self.by_channel),
            ("us", self.by_user),
            ("r", self.redactions),
            ("f", self.failures),
            ("x", self.refusals),
            ("fb", self.feedback),
        ):
            counter.update(totals.count(kind))
        for key, (tokens_in, tokens_out) in totals.tokens.items():
            pair = self.tokens.setdefault(key, [0, 0])
            pair[0] += tokens_in
            pair[1] += tokens_out
        self.decision_ms.update(totals.decision_ms)
        self.pending = totals.pending
        self.rejections.extend(Rejection.model_validate(r) for r in totals.rejections)
        self.low.extend(LowConfidenceOutput.model_validate(x) for x in totals.low)

    def report(self) -> UsageReport:
        approved, rejected = self.by_event["approved"], self.by_event["rejected"]
        decided = approved + rejected
        models, cost, unpriced = self._models()
        return UsageReport(
            days=self.days,
            since=format_at(self.since),
            until=format_at(self.until),
            events=self.events,
            interactions=self.by_event["requested"],
            by_use_case=_top(self.by_use_case),
            by_channel=_top(self.by_channel),
            top_users=_top(self.by_user),
            approvals_requested=self.by_event["approval_requested"],
            approved=approved,
            rejected=rejected,
            escalated=self.by_event["escalated"],
            expired=self.by_event["expired"],
            approval_rate=approved / decided if decided else None,
            median_decision_seconds=_median_seconds(self.decision_ms),
            pending_approvals=len(self.open_status) if self.pending is None else self.pending,
            rejections=list(self.rejections),
            generated=self.by_event["generated"],
            low_confidence=self.low_count,
            low_confidence_outputs=list(self.low),
            redactions=dict(sorted(self.redactions.items(), key=lambda kv: (-kv[1], kv[0]))),
            tokens_in=sum(t[0] for t in self.tokens.values()),
            tokens_out=sum(t[1] for t in self.tokens.values()),
            models=models,
            cost_usd=cost,
            unpriced_tokens=unpriced,
            prices_source=self.prices.source,
            failures=sum(self.failures.values()),
            failures_by_reason=_top(self.failures),
            refusals=sum(self.refusals.values()),
            refusals_by_reason=_top(self.refusals),
            feedback_up=self.feedback["up"],
            feedback_down=self.feedback["down"],
        )

    def _models(self) -> tuple[list[ModelUsage], float, int]:
        rows, cost, unpriced = [], 0.0, 0
        for (model, engine), (tokens_in, tokens_out) in self.tokens.items():
            priced = self.prices.cost(model, engine, tokens_in, tokens_out)
            if priced is None:
                unpriced += tokens_in + tokens_out
            else:
                cost += priced
            rows.append(
                ModelUsage(
                    model=model,
                    engine=engine,
                    tokens_in=tokens_in,
                    tokens_out=tokens_out,
                    cost_usd=priced,
                )
            )
        rows.sort(key=lambda row: (-(row.tokens_in + row.tokens_out), row.model))
        return rows, cost, unpriced


def aggregate(
    events: Iterable[AuditEvent],
    days: int,
    prices: PriceTable,
    *,
    now: datetime | None = None,
    since: datetime | None = None,
) -> UsageReport:
    """The report for events already in memory: tests, and recounting an export. `since`
    defaults to exactly `days` before `now`; the views start at the hour (`report_window`)."""
    until = now or utcnow()
    since = since or until - timedelta(days=days)
    folder = UsageAggregator(days, since, until, prices)
    low, high = format_at(since), format_at(until)
    for event in events:
        if low <= event.at < high:
            folder.add(event)
        elif event.at < low:
            folder.remember(event)
    return folder.report()


def report_window(days: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    """(since, until) of the views' N-day window: whole hours, up to now."""
    until = now or utcnow()
    return window_start(until, days), until


async def usage_reports(
    audit: AuditLog,
    windows: Sequence[int],
    prices: PriceTable,
    *,
    now: datetime | None = None,
) -> list[UsageReport]:
    """One report per window (in days), from ONE read of the running totals."""
    if not windows or any(days < 1 for days in windows):
        raise ValueError("usage windows are whole days, at least 1")
    until = now or utcnow()
    folders = [
        UsageAggregator(days, report_window(days, until)[0], until, prices) for days in windows
    ]
    totals = await Totals.read(audit.redis, audit.keys, [f.since for f in folders], until)
    for folder in folders:
        folder.absorb(totals.window(folder.since))
    return [folder.report() for folder in folders]


async def usage_report(
    audit: AuditLog, days: int, prices: PriceTable, *, now: datetime | None = None
) -> UsageReport:
    return (await usage_reports(audit, [days], prices, now=now))[0]
