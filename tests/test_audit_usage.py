"""Usage aggregation, pricing, admin argument parsing, the read indexes, metrics and logs."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from app.audit.admin import ArgsError, AuditQuery, parse_audit_args, parse_usage_args
from app.audit.event import AuditEvent, format_at
from app.audit.log import AuditLog
from app.audit.pricing import DEFAULT_PRICES, PricesError, PriceTable, load_prices
from app.audit.query import AuditFilters
from app.audit.usage import aggregate, usage_reports
from app.audit.usage_view import DASHBOARD_BLOCKS, bar, dashboard_blocks, render_text
from app.home import MAX_BLOCKS
from app.runtime import metrics
from app.slack import blocks as bk
from tests.test_audit import Clock

NOW = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)
PRICES = PriceTable(DEFAULT_PRICES)


def ev(n: int, event: str, minutes_ago: float, iid: str = "i1", **fields: Any) -> AuditEvent:
    at = format_at(NOW - timedelta(minutes=minutes_ago))
    return AuditEvent(id=n, at=at, interaction_id=iid, event=event, **fields)  # type: ignore[arg-type]


def sample() -> list[AuditEvent]:
    """Oldest first: 3 summaries, 2 drafts with approvals, a failure, refusals and feedback."""
    s = {"use_case": "summarize"}
    d = {"use_case": "draft"}
    return [
        ev(1, "requested", 600, "s1", actor_id="U1", channel_id="C1", **s),
        ev(2, "generated", 599, "s1", actor_id="U1", channel_id="C1", confidence=0.9,
           model="gpt-4o-mini", engine="openai", tokens_in=1_000_000, tokens_out=100_000,
           redactions={"email": 2, "phone": 1}, **s),
        ev(3, "requested", 500, "s2", actor_id="U2", channel_id="C1", **s),
        ev(4, "generated", 499, "s2", actor_id="U2", channel_id="C1", confidence=0.3,
           model="mystery-model", engine="openai", tokens_in=500, tokens_out=50,
           redactions={"email": 1}, **s),
        ev(5, "requested", 400, "s3", actor_id="U1", channel_id="C2", **s),
        ev(6, "failed", 399, "s3", actor_id="U1", channel_id="C2", reason="model_timeout", **s),
        ev(7, "requested", 300, "d1", actor_id="U1", channel_id="C2", **d),
        ev(8, "generated", 299, "d1", actor_id="U1", channel_id="C2", confidence=0.45,
           engine="offline", model="offline", tokens_in=10, tokens_out=10, **d),
        ev(9, "approval_requested", 290, "d1", actor_id="U1", approval_status="pending", **d),
        ev(10, "approved", 260, "d1", actor_id="M1", approver_id="M1",
           approval_status="approved", **d),  # 30 minutes to decide
        ev(11, "requested", 200, "d2", actor_id="U2", channel_id="C2", **d),
        ev(12, "approval_requested", 190, "d2", actor_id="U2", approval_status="pending", **d),
        ev(13, "rejected", 180, "d2", actor_id="M2", approver_id="M2",
           approval_status="rejected", reason="Too <b>blunt</b> for customers", **d),  # 10 min
        ev(14, "requested", 100, "d3", actor_id="U3", channel_id="C1", **d),
        ev(15, "approval_requested", 90, "d3", actor_id="U3", approval_status="pending", **d),
        ev(16, "escalated", 30, "d3", approval_status="escalated", **d),  # still open
        ev(17, "refused", 20, "x1", actor_id="U9", reason="/steward audit: admins only"),
        ev(18, "feedback", 10, "s1", actor_id="U1", reason="up", **s),
        ev(19, "feedback", 9, "s2", actor_id="U4", reason="down", **s),
        ev(20, "feedback", 8, "d1", actor_id="U5", reason="up", **d),
    ]  # fmt: skip


def test_aggregation_over_a_window() -> None:
    report = aggregate(sample(), 7, PRICES, now=NOW)
    assert report.interactions == 6 and report.events == 20
    assert [(c.key, c.count) for c in report.by_use_case] == [("draft", 3), ("summarize", 3)]
    assert [(c.key, c.count) for c in report.by_channel] == [("C1", 3), ("C2", 3)]
    assert [(c.key, c.count) for c in report.top_users] == [("U1", 3), ("U2", 2), ("U3", 1)]
    assert (report.approved, report.rejected, report.approval_rate) == (1, 1, 0.5)
    assert report.median_decision_seconds == 20 * 60  # median of 30 and 10 minutes
    assert report.pending_approvals == 1  # d3: escalated, undecided
    assert [(r.interaction_id, r.approver_id, r.reason) for r in report.rejections] == [
        ("d2", "M2", "Too <b>blunt</b> for customers")
    ]
    assert [(x.interaction_id, x.confidence) for x in report.low_confidence_outputs] == [
        ("d1", 0.45),  # newest first
        ("s2", 0.3),
    ]
    assert (report.low_confidence, report.generated) == (2, 3)
    assert report.redactions == {"email": 3, "phone": 1}
    assert (report.tokens_in, report.tokens_out) == (1_000_510, 100_060)
    # gpt-4o-mini: 1M in x $0.15 + 0.1M out x $0.60 = $0.21; offline free; mystery unpriced.
    assert report.cost_usd == pytest.approx(0.21)
    assert report.unpriced_tokens == 550
    assert {m.model: m.cost_usd for m in report.models} == {
        "gpt-4o-mini": pytest.approx(0.21),
        "mystery-model": None,
        "offline": 0.0,
    }
    assert (report.failures, report.failures_by_reason[0].key) == (1, "model_timeout")
    assert report.refusals == 1
    assert (report.feedback_up, report.feedback_down) == (2, 1)


def test_window_excludes_older_events() -> None:
    report = aggregate(sample(), 7, PRICES, now=NOW + timedelta(days=7, minutes=-250))
    # Only events newer than 250 minutes before the original NOW remain: from d2 on.
    assert report.interactions == 2  # d2 and d3
    assert (report.approved, report.rejected) == (0, 1)
    assert report.median_decision_seconds == 600


def test_dashboard_blocks_stay_within_budget_and_validate() -> None:
    report = aggregate(sample(), 7, PRICES, now=NOW)
    blocks = dashboard_blocks(report)
    assert len(blocks) <= DASHBOARD_BLOCKS
    view = bk.home_view(blocks)  # slack_sdk validation
    text = json.dumps(view, ensure_ascii=False)
    assert "Too &lt;b&gt;blunt&lt;/b&gt; for customers" in text  # escaped, never markup
    assert "`█████░░░░░ 50%` (1/2)" in text
    assert MAX_BLOCKS <= 100


def test_empty_report_renders() -> None:
    report = aggregate([], 30, PRICES, now=NOW)
    assert report.approval_rate is None and report.median_decision_seconds is None
    bk.home_view(dashboard_blocks(report))
    assert "no decisions" in render_text(report)


def test_terminal_report_lists_the_breakdowns() -> None:
    text = render_text(aggregate(sample(), 7, PRICES, now=NOW))
    assert "interactions          6" in text
    assert "approval rate         █████░░░░░ 50% (1/2)" in text
    assert "median to decision    20m 00s" in text
    assert "U1  █████░░░░░ 50%  3" in text
    assert "mystery-model" in text and "unpriced" in text


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [
        (0.0, "░░░░░░░░░░ 0%"),
        (0.62, "██████░░░░ 62%"),
        (1.0, "██████████ 100%"),
        (2, "██████████ 100%"),
    ],
)
def test_bar(fraction: float, expected: str) -> None:
    assert bar(fraction) == expected


async def test_one_pass_gives_both_windows(r: aioredis.Redis) -> None:
    clock = Clock(NOW - timedelta(days=20))
    log = AuditLog(r, clock=clock)
    await log.record(interaction_id="old", event="requested", use_case="summarize", actor_id="U1")
    clock.now = NOW - timedelta(days=2)
    await log.record(interaction_id="new", event="requested", use_case="draft", actor_id="U2")
    await log.record(interaction_id="new", event="feedback", reason="down", actor_id="U2")
    week, month = await usage_reports(log, [7, 30], PRICES, now=NOW)
    assert (week.interactions, month.interactions) == (1, 2)
    assert [c.key for c in week.by_use_case] == ["draft"]
    assert (week.feedback_down, month.feedback_down) == (1, 1)
    with pytest.raises(ValueError):
        await usage_reports(log, [0], PRICES)


# ---- pricing ------------------------------------------------------------------------------


def test_prices_match_snapshots_by_longest_prefix() -> None:
    assert PRICES.price_for("gpt-4o-mini-2024-07-18") == DEFAULT_PRICES["gpt-4o-mini"]
    assert PRICES.price_for("gpt-4o-2024-08-06") == DEFAULT_PRICES["gpt-4o"]
    assert PRICES.price_for("llama3") is None
    assert PRICES.cost("llama3", "offline", 100, 100) == 0.0


def test_prices_file_overrides_and_extends(tmp_path: Path) -> None:
    (tmp_path / "prices.yml").write_text(
        "gpt-4o-mini: {input: 1, output: 2}\nllama3: {input: 0, output: 0}\n"
    )
    table = load_prices(tmp_path)
    assert table.cost("gpt-4o-mini", "openai", 1_000_000, 1_000_000) == 3.0
    assert table.cost("llama3", "openai", 10, 10) == 0.0
    assert table.price_for("gpt-4o") == DEFAULT_PRICES["gpt-4o"]  # the rest stay
    assert table.source.endswith("prices.yml")
    assert load_prices(tmp_path / "absent").source == "built-in"


@pytest.mark.parametrize(
    "text", ["gpt-4o: {input: -1, output: 2}", "- a list", "x: {input: 1}", "a: [b"]
)
def test_malformed_prices_file_is_named(tmp_path: Path, text: str) -> None:
    (tmp_path / "prices.yml").write_text(text)
    with pytest.raises(PricesError, match=r"prices\.yml"):
        load_prices(tmp_path)


# ---- arguments ----------------------------------------------------------------------------


def test_audit_arguments_in_any_order() -> None:
    query = parse_audit_args(["30d", "pending", "<#C0LAUNCH|launch>", "<@U0EMP|priya>"])
    assert query == AuditQuery(
        user="U0EMP", channel="C0LAUNCH", status="pending", window_seconds=30 * 86400
    )
    assert parse_audit_args([]) == AuditQuery()
    assert parse_audit_args(["<@U0EMP>", "#C0GENERAL", "Not-Required"]).status == "not_required"
    assert parse_audit_args(["2w"]).window_seconds == 14 * 86400
    assert (
        "the last 14 days involving <@U0EMP>"
        in AuditQuery(user="U0EMP", window_seconds=14 * 86400).describe()
    )


@pytest.mark.parametrize(
    "words",
    [
        ["<@U1>", "<@U2>"],
        ["soon"],
        ["400d"],
        ["@priya"],
        ["#launch"],
        ["pending", "approved"],
        ["<#C1>", "C2X"],
    ],
)
def test_bad_audit_arguments(words: list[str]) -> None:
    with pytest.raises(ArgsError):
        parse_audit_args(words)


def test_usage_arguments() -> None:
    assert parse_usage_args([]) == 7
    assert parse_usage_args(["30d"]) == 30
    assert parse_usage_args(["2w"]) == 14
    assert parse_usage_args(["90"]) == 90
    for bad in (["12h"], ["0d"], ["366d"], ["7d", "30d"], ["week"]):
        with pytest.raises(ArgsError):
            parse_usage_args(bad)


# ---- indexes ------------------------------------------------------------------------------


async def test_iter_recent_through_an_index_sees_each_event_once(r: aioredis.Redis) -> None:
    frozen = NOW  # every event in the same millisecond: paging must still move on

    log = AuditLog(r, clock=lambda: frozen)
    for k in range(7):
        await log.record(interaction_id=f"i{k}", event="requested", actor_id="U1", channel_id="C1")
    await log.record(interaction_id="other", event="requested", actor_id="U2", channel_id="C1")
    seen = [e.id async for e in log.iter_recent(AuditFilters(user="U1"), batch=3)]
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    by_channel = [e.id async for e in log.iter_recent(AuditFilters(channel="C1"), batch=2)]
    assert by_channel == [8, 7, 6, 5, 4, 3, 2, 1]
    assert [e.id for e in await log.recent(2, AuditFilters(user="U1"))] == [7, 6]


async def test_approval_requests_index_their_approvers(r: aioredis.Redis) -> None:
    log = AuditLog(r)
    await log.record(
        interaction_id="d1",
        event="approval_requested",
        approval_status="pending",
        extra={"approvers": ["M1", "M2"], "step": 0},
    )
    await log.record(interaction_id="d2", event="approval_requested", extra={"approvers": ["M1"]})
    await log.record(interaction_id="d3", event="generated", extra={"approvers": ["M1"]})
    assert await log.awaiting("M1") == ["d2", "d1"]
    assert await log.awaiting("M2") == ["d1"]
    await log.forget_awaiting("M1", ["d1"])
    assert await log.awaiting("M1") == ["d2"]
    assert (await log.verify()).ok


async def test_archiving_prunes_the_approver_index(r: aioredis.Redis, tmp_path: Path) -> None:
    clock = Clock(NOW - timedelta(days=40))
    log = AuditLog(r, clock=clock)
    await log.record(interaction_id="old", event="approval_requested", extra={"approvers": ["M1"]})
    clock.now = NOW - timedelta(days=1)
    await log.record(interaction_id="new", event="approval_requested", extra={"approvers": ["M1"]})
    clock.now = NOW
    result = await log.archive_older_than(30, tmp_path)
    assert result.archived == 1
    assert await log.awaiting("M1") == ["new"]
    assert (await log.verify()).ok


# ---- metrics and logs ----------------------------------------------------------------------


def sample_value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def test_each_append_is_counted_and_logged_once_without_text(
    r: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    log = AuditLog(r)
    before = {
        "events": sample_value(
            "steward_audit_events_total", use_case="metricscase", event="generated"
        ),
        "tokens": sample_value(
            "steward_tokens_total", use_case="metricscase", model="gpt-4o-mini", direction="in"
        ),
        "approvals": sample_value(
            "steward_approvals_total", use_case="metricscase", outcome="rejected"
        ),
        "redactions": sample_value("steward_redactions_total", kind="metrics_email"),
        "latency": sample_value(
            "steward_interaction_latency_seconds_count", use_case="metricscase"
        ),
    }
    with caplog.at_level(logging.INFO, logger="steward.audit"):
        await log.record(
            interaction_id="m1",
            event="generated",
            use_case="metricscase",
            model="gpt-4o-mini",
            engine="openai",
            output="SECRET OUTPUT TEXT",
            tokens_in=120,
            tokens_out=30,
            latency_ms=1500,
            redactions={"metrics_email": 2},
        )
        await log.record(
            interaction_id="m1",
            event="rejected",
            use_case="metricscase",
            approval_status="rejected",
            reason="a reviewer's private words",
        )
    after = {
        "events": sample_value(
            "steward_audit_events_total", use_case="metricscase", event="generated"
        ),
        "tokens": sample_value(
            "steward_tokens_total", use_case="metricscase", model="gpt-4o-mini", direction="in"
        ),
        "approvals": sample_value(
            "steward_approvals_total", use_case="metricscase", outcome="rejected"
        ),
        "redactions": sample_value("steward_redactions_total", kind="metrics_email"),
        "latency": sample_value(
            "steward_interaction_latency_seconds_count", use_case="metricscase"
        ),
    }
    assert {k: after[k] - before[k] for k in before} == {
        "events": 1,
        "tokens": 120,
        "approvals": 1,
        "redactions": 2,
        "latency": 1,
    }
    lines = [rec for rec in caplog.records if rec.name == "steward.audit"]
    assert [getattr(rec, "event", None) for rec in lines] == ["generated", "rejected"]
    first = lines[0].__dict__
    assert (first["interaction_id"], first["tokens_in"], first["latency_ms"]) == ("m1", 120, 1500)
    assert lines[1].__dict__["outcome"] == "rejected"
    dumped = " ".join(json.dumps(rec.__dict__, default=str) for rec in lines)
    assert "SECRET OUTPUT TEXT" not in dumped and "private words" not in dumped


async def test_audit_listing_is_newest_first_filtered_by_latest_state(r: aioredis.Redis) -> None:
    from app.audit.admin import matching_interactions

    log = AuditLog(r)
    for k in range(60):
        base = {"interaction_id": f"d{k}", "channel_id": "C1", "use_case": "draft"}
        await log.record(event="requested", actor_id="U1", approval_status="pending", **base)
        if k % 3 == 0:
            await log.record(
                event="rejected",
                actor_id="M1",
                approver_id="M1",
                approval_status="rejected",
                **base,
            )
        await log.record(event="feedback", actor_id="U3", reason="up", **base)
    rejected, more = await matching_interactions(log, AuditQuery(status="rejected"), limit=5)
    assert [s.interaction_id for s in rejected] == ["d57", "d54", "d51", "d48", "d45"]
    assert more
    everything, more = await matching_interactions(log, AuditQuery(channel="C1"), limit=100)
    assert (len(everything), more) == (60, False)
    by_approver, _ = await matching_interactions(log, AuditQuery(user="M1"), limit=100)
    assert len(by_approver) == 20  # the requester's and the approver's interactions
    assert (await matching_interactions(log, AuditQuery(user="U3")))[0] == []  # feedback only
