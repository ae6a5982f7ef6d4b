"""Running totals: kept by the append script, they equal a recount from an export."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis.asyncio as aioredis

from app.audit.event import format_at
from app.audit.log import AuditLog
from app.audit.pricing import DEFAULT_PRICES, PriceTable
from app.audit.totals import three_digits
from app.audit.usage import aggregate, report_window, usage_reports
from tests.test_audit import Clock

NOW = datetime(2024, 6, 30, 12, 34, 56, tzinfo=UTC)  # mid-hour: windows start at an hour's top
PRICES = PriceTable(DEFAULT_PRICES)
USERS = ["U1", "U2", "U3", "U4"]
CHANNELS = ["C1", "C2", "C3"]
MODELS = [("gpt-4o-mini", "openai"), ("mystery-model", "openai"), ("offline", "offline")]


async def workload(log: AuditLog, clock: Clock, rng: random.Random) -> int:
    """Requests, outputs, approvals (some asked before a window and decided in it), rejections,
    expiries, feedback, redactions, failures and refusals over 40 days. Returns the count."""
    count = 0

    async def put(**fields: object) -> None:
        nonlocal count
        await log.record(**fields)  # type: ignore[arg-type]
        count += 1
        clock.now += timedelta(minutes=rng.randint(1, 90))

    clock.now = NOW - timedelta(days=40)
    k = 0
    while clock.now < NOW - timedelta(hours=14):  # nothing after NOW: a window ends there
        k += 1
        iid, user, channel = f"i{k}", rng.choice(USERS), rng.choice(CHANNELS)
        use_case = rng.choice(["summarize", "draft"])
        base = {"interaction_id": iid, "channel_id": channel, "use_case": use_case}
        await put(event="requested", actor_id=user, **base)
        kind = rng.random()
        if kind < 0.1:
            reason = rng.choice(["timeout", "quota"])
            await put(event="failed", actor_id=user, reason=reason, **base)
            continue
        if kind < 0.15:
            await put(event="refused", actor_id=user, reason="not allowed", **base)
            continue
        model, engine = rng.choice(MODELS)
        await put(
            event="generated",
            actor_id=user,
            model=model,
            engine=engine,
            tokens_in=rng.randint(0, 5000),
            tokens_out=rng.randint(0, 500),
            confidence=rng.choice([0.2, 0.45, 0.7, 0.9]),
            redactions=rng.choice([{}, {"email": 1}, {"email": 2, "phone": 1}]),
            approval_status="not_required" if use_case == "summarize" else "pending",
            **base,
        )
        if use_case == "draft":
            await put(
                event="approval_requested",
                actor_id=user,
                approval_status="pending",
                extra={"approvers": ["M1"]},
                **base,
            )
            if rng.random() < 0.3 and clock.now < NOW - timedelta(days=4):
                clock.now += timedelta(days=rng.randint(1, 3))  # decided days later
            outcome = rng.random()
            if outcome < 0.4:
                await put(event="approved", approver_id="M1", approval_status="approved", **base)
            elif outcome < 0.75:
                reason = rng.choice(["too blunt", "wrong facts", None])
                await put(
                    event="rejected",
                    approver_id="M2",
                    approval_status="rejected",
                    reason=reason,
                    **base,
                )
            elif outcome < 0.85:
                await put(event="escalated", approval_status="escalated", **base)
            elif outcome < 0.92:
                await put(event="expired", approval_status="expired", **base)
            # else: still pending
        if rng.random() < 0.4:
            await put(
                event="feedback", actor_id=user, reason=rng.choice(["up", "down", "x"]), **base
            )
    return count


async def test_totals_equal_a_recount_from_an_export(r: aioredis.Redis) -> None:
    clock = Clock(NOW)
    log = AuditLog(r, clock=clock)
    written = await workload(log, clock, random.Random(16))
    windows = [1, 7, 30, 365]
    reports = await usage_reports(log, windows, PRICES, now=NOW)
    exported = [event async for event in log.export()]
    assert len(exported) == written
    for days, report in zip(windows, reports, strict=True):
        since, _ = report_window(days, NOW)
        assert since == (NOW - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
        assert report == aggregate(exported, days, PRICES, now=NOW, since=since)
    week, month, year = reports[1], reports[2], reports[3]
    # The workload exercised what it claims to: every kind of number is non-trivial.
    assert year.events == written and 0 < week.interactions < month.interactions
    assert month.approved and month.rejected and month.pending_approvals and month.escalated
    assert len(month.rejections) == 10 and month.low_confidence > 10
    assert month.median_decision_seconds and month.redactions and month.failures
    assert month.refusals and month.feedback_up and month.feedback_down and month.unpriced_tokens
    assert len({c.key for c in month.by_channel}) == 3 and len(month.top_users) == 4


async def test_the_views_read_the_totals_not_the_stream(r: aioredis.Redis) -> None:
    clock = Clock(NOW - timedelta(days=1))
    log = AuditLog(r, clock=clock)
    await log.record(interaction_id="i1", event="requested", use_case="draft", actor_id="U1")
    await log.record(interaction_id="i1", event="generated", tokens_in=10, tokens_out=2)
    before = await usage_reports(log, [7], PRICES, now=NOW)
    hour = format_at(clock.now)[:13]
    for key in (log.keys.usage_hour(hour), log.keys.usage_day(hour[:10])):
        assert 399 * 86400 < await r.ttl(key) <= 400 * 86400  # outlives a 365-day window
    await r.delete(log.keys.stream)  # the raw events gone: the totals still answer
    after = await usage_reports(log, [7], PRICES, now=NOW)
    assert after == before and after[0].interactions == 1 and after[0].tokens_in == 10


async def test_totals_outlive_archived_events(r: aioredis.Redis, tmp_path: Path) -> None:
    clock = Clock(NOW - timedelta(days=20))
    log = AuditLog(r, clock=clock)
    await log.record(interaction_id="old", event="requested", use_case="draft", actor_id="U1")
    clock.now = NOW - timedelta(days=1)
    await log.record(interaction_id="new", event="requested", use_case="draft", actor_id="U2")
    before = await usage_reports(log, [30], PRICES, now=NOW)
    result = await log.archive_older_than(10, tmp_path, now=NOW)
    assert result.archived == 1
    after = await usage_reports(log, [30], PRICES, now=NOW)
    assert after == before and after[0].interactions == 2
    # ... and the archive file plus the stream recount them.
    assert result.path is not None
    archived = [line for line in result.path.read_text().splitlines() if line]
    remaining = [event async for event in log.export()]
    assert len(archived) + len(remaining) == after[0].events
    assert (await log.verify()).ok


def test_three_digits_rounds_half_up_and_keeps_small_values() -> None:
    assert [three_digits(v) for v in (0, 999, 1000, 46_771, 46_750, 99_950, 1_234_567)] == [
        0,
        999,
        1000,
        46_800,
        46_800,
        100_000,
        1_230_000,
    ]


async def test_the_script_rounds_decision_times_like_the_recount(r: aioredis.Redis) -> None:
    clock = Clock(NOW - timedelta(days=1))
    log = AuditLog(r, clock=clock)
    took = [46_771, 999_950, 1_234_567, 250, 7_777_777]
    for k, ms_ in enumerate(took):
        base = {"interaction_id": f"d{k}", "use_case": "draft"}
        clock.now = NOW - timedelta(hours=10 - k)
        await log.record(event="approval_requested", approval_status="pending", **base)
        clock.now += timedelta(milliseconds=ms_, microseconds=-1)  # the clock adds 1 µs
        event = "approved" if k % 2 else "rejected"
        await log.record(event=event, approval_status=event, **base)  # type: ignore[arg-type]
    (report,) = await usage_reports(log, [7], PRICES, now=NOW)
    exported = [event async for event in log.export()]
    assert report == aggregate(exported, 7, PRICES, now=NOW, since=report_window(7, NOW)[0])
    assert report.median_decision_seconds == 1_000.0  # 999,950 ms rounds to 1,000,000
