"""Compact sources: a 20,000-message read stays a small event that verifies, exports and cites."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from app.audit.export import write_jsonl
from app.audit.log import AuditLog
from app.audit.pricing import DEFAULT_PRICES, PriceTable
from app.audit.sources import INLINE, compact, matches, read_count, sources_read
from app.audit.trace_view import build_trace, why_modal
from app.audit.usage import usage_reports
from app.sandbox.openai_compat import ModelServer
from tests.e2e import EMPLOYEE, LAUNCH, Stack, model_settings, running_stack

OUTPUT = "Decisions: the launch moves to Thursday [M12]; Dana owns the checklist [M1880]. " * 16
STREAM = "steward:audit"


def thread_ts(n: int) -> list[str]:
    return [f"{1714550000 + k // 7}.{k % 7:06d}" for k in range(n)]


async def stored_sizes(r: aioredis.Redis) -> list[int]:
    return [len(fields["json"].encode()) for _, fields in await r.xrange(STREAM)]


async def test_a_20000_message_summary_event_is_under_4_kb_and_still_cites(
    r: aioredis.Redis,
) -> None:
    log = AuditLog(r)
    read = thread_ts(20_000)
    cited = [read[12], read[1880], read[19_999]]
    sources, described = compact(read, cited)
    await log.record(interaction_id="s1", event="requested", actor_id="U1", use_case="summarize")
    event = await log.record(
        interaction_id="s1",
        event="generated",
        actor_id="U1",
        channel_id="C1",
        use_case="summarize",
        model="gpt-4o-mini",
        engine="openai",
        prompt_version="summarize-v3",
        sources=sources,
        output=OUTPUT,
        confidence=0.8,
        tokens_in=600_000,
        tokens_out=900,
        latency_ms=11_300,
        redactions={"email": 3},
        extra={**described, "span": "20000 messages, 01 May 07:53 → 01 May 15:29 UTC"},
    )
    assert max(await stored_sizes(r)) < 4096
    assert event.sources == cited and read_count(event) == 20_000
    assert matches(event, read) and not matches(event, [*read[:-1], "1714559999.000000"])
    assert (await log.verify()).ok
    sink = io.StringIO()
    assert await write_jsonl(log, sink) == 2
    assert json.loads(sink.getvalue().splitlines()[-1])["extra"]["sources_read"]["count"] == 20_000
    (report,) = await usage_reports(log, [7], PriceTable(DEFAULT_PRICES))
    assert (report.generated, report.tokens_in) == (1, 600_000)

    trace = build_trace(await log.events_for("s1"))
    assert trace.sources.startswith("20000 messages")
    for ts in cited:
        assert f"`{ts}`" in trace.sources
    described_read = sources_read(event)
    assert described_read is not None and described_read.sha256[:16] in trace.sources
    why_modal(trace)  # still a valid modal (slack_sdk validates it)


async def test_a_writer_that_lists_every_source_is_bounded_too(r: aioredis.Redis) -> None:
    log = AuditLog(r)
    read = thread_ts(20_000)
    event = await log.record(interaction_id="d1", event="generated", sources=read, output=OUTPUT)
    assert max(await stored_sizes(r)) < 4096
    assert event.sources == [] and read_count(event) == 20_000 and matches(event, read)
    trace = build_trace(await log.events_for("d1")).sources
    assert trace.startswith("20000 messages") and "Cited" not in trace  # it cited nothing
    short = await log.record(interaction_id="d2", event="generated", sources=read[:INLINE])
    assert short.sources == read[:INLINE] and "sources_read" not in short.extra
    assert (await log.verify()).ok


@pytest.fixture
async def stack(
    redis_url: str, redis_sync: object, tmp_path: Path, model: ModelServer
) -> AsyncIterator[Stack]:
    async with running_stack(redis_url, tmp_path, **model_settings(model.url)) as running:
        yield running


async def test_why_cites_the_messages_of_a_long_thread(stack: Stack) -> None:
    sandbox = stack.sandbox
    replies = [
        ("U0EMP1" if k % 2 else "U0MGR1", f"Update {k}: step {k} of the launch is done.")
        for k in range(INLINE * 3)
    ]
    replies[40] = ("U0MGR1", "We agreed: the launch moves to Thursday.")  # points that cite
    replies[120] = ("U0EMP1", "I'll send the checklist by Wednesday.")
    parent = sandbox.workspace.add_thread(LAUNCH, ("U0MGR1", "Launch checklist"), replies)
    employee = sandbox.user(EMPLOYEE)
    await employee.message_shortcut("summarize_thread", parent)
    result = (
        await sandbox.wait_for(
            lambda: [
                e for e in sandbox.ephemerals(user=EMPLOYEE) if "Share in thread" in str(e.blocks)
            ]
        )
    )[0]
    events = [e async for e in stack.runtime.services.audit.export()]
    generated = next(e for e in events if e.event == "generated")
    read = [parent.ts, *(m.ts for m in sandbox.thread(LAUNCH, parent.ts) if m.ts != parent.ts)]
    assert read_count(generated) == len(read) == INLINE * 3 + 1
    assert generated.sources and set(generated.sources) <= set(read)  # the cited ones
    assert matches(generated, read)

    await employee.click("Why?", in_=result)
    modal = await sandbox.wait_for(lambda: employee.modal)
    trace = json.dumps(modal.blocks)
    assert f"{len(read)} messages" in trace and "Cited:" in trace
    assert all(ts in trace for ts in generated.sources)
