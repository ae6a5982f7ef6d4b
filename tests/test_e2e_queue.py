"""The queue under load, end to end (issue 16): backpressure, the interactive lane while the
normal one is full, streams that empty themselves, and a reclaimed job that does not post again.

Signed HTTP into the running app, the strict sandbox recording what was sent, a real Redis.
Nothing waits on wall time: the model is held and released by the test, retries come when the
test moves the stack's clock.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from app.backlog import BUSY_TEXT
from app.runtime import metrics, sent
from app.runtime.keys import INTERACTIVE_STREAM, STREAM, STREAMS, job_sent
from app.runtime.queue import QueueConfig, Worker
from app.sandbox.openai_compat import ModelServer
from handlers import inbox
from tests.e2e import (
    EMPLOYEE,
    GENERAL,
    LAUNCH,
    MANAGER,
    VISIBILITY,
    Stack,
    model_settings,
    running_stack,
)
from tests.test_e2e_draft import submitted, write_policy
from tests.test_e2e_summarize import results, texts
from tests.test_lanes import FLOOD_POLICY


def refused_backlog(use_case: str) -> float:
    return metrics.LIMITED.labels(use_case=use_case, limit="backlog")._value.get()


async def refusals(stack: Stack) -> list[tuple[str | None, str | None, str | None]]:
    return [
        (e.actor_id, e.use_case, e.reason)
        async for e in stack.runtime.services.audit.export()
        if e.event == "refused"
    ]


async def test_past_the_backlog_a_request_is_told_busy_counted_audited_and_not_queued(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    # No workers: the three queued summaries stay queued, so the lane stays at its bound.
    async with running_stack(redis_url, tmp_path, workers=0, steward_max_backlog=3) as stack:
        sb = stack.sandbox
        redis = stack.runtime.services.redis
        before = refused_backlog("summarize")
        for _ in range(3):
            taken = await sb.user(EMPLOYEE).command("/summarize", "6h", channel=GENERAL)
            assert taken.status == 200 and taken.body == ""
        refused = await sb.user(EMPLOYEE).command("/summarize", "6h", channel=GENERAL)
        assert refused.status == 200
        assert refused.json() == {"response_type": "ephemeral", "text": BUSY_TEXT}
        assert await redis.xlen(STREAM) == 3  # nothing queued for the refused one
        assert refused_backlog("summarize") == before + 1
        assert await refusals(stack) == [(EMPLOYEE, "summarize", "busy: backlog")]

        # A mention is refused too, and told privately; the interactive lane is never refused.
        await sb.user(EMPLOYEE).mention(GENERAL, "<@U0STEWARD> summarize")
        await sb.wait_for(lambda: any(t == BUSY_TEXT for t in texts(sb)))
        helped = await sb.user(EMPLOYEE).command("/steward", "help", channel=GENERAL)
        assert helped.status == 200 and helped.body == ""
        assert await redis.xlen(INTERACTIVE_STREAM) == 1
        assert await redis.xlen(STREAM) == 3
        assert len(await refusals(stack)) == 2


async def test_a_why_click_is_served_while_the_normal_lane_is_full(
    redis_url: str, redis_sync: object, tmp_path: Path, model: ModelServer
) -> None:
    model.hold = asyncio.Event()
    model.hold.set()
    queue = QueueConfig(visibility_timeout=VISIBILITY, max_attempts=3, block_ms=100)
    queue.concurrency = 2
    async with running_stack(
        redis_url,
        tmp_path,
        queue=queue,
        steward_policy=str(write_policy(tmp_path, FLOOD_POLICY)),
        steward_user_jobs_in_flight=0,
        steward_max_backlog=4,
        **model_settings(model.url),
    ) as stack:
        sb = stack.sandbox
        _, request = await submitted(stack, "announce that the beta launch moves to May 12")
        model.hold.clear()
        try:
            held = len(model.requests)
            for _ in range(4):
                taken = await sb.user(EMPLOYEE).command("/summarize", "6h", channel=LAUNCH)
                assert taken.body == ""
            await sb.wait_for(lambda: len(model.requests) - held == 2)  # both slots held
            full = await sb.user(EMPLOYEE).command("/summarize", "6h", channel=LAUNCH)
            assert full.json()["text"] == BUSY_TEXT
            assert await stack.runtime.queue.depth("normal") == 4

            await sb.user(MANAGER).click("Why?", in_=request)
            trace = await sb.wait_for(lambda: sb.user(MANAGER).modal)
            assert "Policy rule" in json.dumps(trace.blocks)
            assert len(model.requests) - held == 2  # the backlog did not move meanwhile
        finally:
            model.hold.set()


async def test_many_jobs_leave_empty_streams_and_no_key_per_job(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    async with running_stack(redis_url, tmp_path) as stack:
        sb = stack.sandbox
        redis = stack.runtime.services.redis
        for _ in range(60):
            await sb.user(EMPLOYEE).command("/steward", "help", channel=GENERAL)
        await sb.wait_for(lambda: len(texts(sb)) >= 60, timeout=60)

        async def drained() -> bool:
            return sum([await redis.xlen(s) for s in STREAMS.values()]) == 0

        await sb.wait_for(drained)
        assert len([t for t in texts(sb) if "Steward help" in t]) == 60  # each answered once
        assert [k async for k in redis.scan_iter("steward:job:*")] == []
        assert [k async for k in redis.scan_iter("steward:jobs:*attempts")] == []
        # One dedupe entry per command, in hashes that expire; none as a key of its own.
        shards = [k async for k in redis.scan_iter("steward:dedupe:*")]
        assert sum([await redis.hlen(k) for k in shards]) == 60
        assert all([await redis.ttl(k) > 0 for k in shards])


@pytest.mark.slow
async def test_a_reclaimed_job_does_not_post_again_what_its_first_run_posted(
    redis_url: str, redis_sync: object, tmp_path: Path, model: ModelServer
) -> None:
    model.hold = asyncio.Event()  # closed: the first run waits on the model after its notice
    async with running_stack(redis_url, tmp_path, workers=0, **model_settings(model.url)) as st:
        sb = st.sandbox
        runtime = st.runtime
        inbox.install(runtime)
        doomed = Worker(runtime.queue, runtime.handle, runtime.on_dead, "doomed", st.clock)
        doomed_task = asyncio.create_task(doomed.run())
        for text in ("We ship on Tuesday.", "Changelog?", "Done."):
            await sb.user(EMPLOYEE).post(GENERAL, text)
        await sb.user(EMPLOYEE).command("/summarize", "6h", channel=GENERAL)
        await sb.wait_for(lambda: model.requests)  # "Summarising…" is out; the model is asked
        assert sum("Summarising" in t for t in texts(sb)) == 1

        # The worker "dies": its job stops where it is, never acknowledged, no heartbeat.
        for job in list(doomed._running.values()):
            job.cancel()
        doomed.stop()
        await doomed_task
        assert await runtime.queue.depth("normal") == 1

        survivor = Worker(runtime.queue, runtime.handle, runtime.on_dead, "survivor", st.clock)
        survivor_task = asyncio.create_task(survivor.run())
        model.hold.set()
        try:
            await st.clock.advance(VISIBILITY)  # the dead worker's job is now overdue
            await sb.wait_for(lambda: results(sb), timeout=30)

            async def drained() -> bool:
                return await runtime.queue.depth() == 0

            await sb.wait_for(drained)
        finally:
            survivor.stop()
            await survivor_task
        assert sum("Summarising" in t for t in texts(sb)) == 1  # not posted again
        assert len(results(sb)) == 1
        assert [k async for k in runtime.services.redis.scan_iter("steward:job:*")] == []


async def test_an_unsure_post_is_looked_up_by_its_metadata_before_it_is_sent_again(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    async with running_stack(redis_url, tmp_path, workers=0) as stack:
        slack = stack.runtime.services.slack
        redis = stack.runtime.services.redis

        async def post_in(run: sent.Run) -> dict[str, object]:
            token = sent.CURRENT.set(run)
            try:
                return await slack.post_message(LAUNCH, "Posted once, whatever happens")
            finally:
                sent.CURRENT.reset(token)

        def copies() -> int:
            return sum(m.text.startswith("Posted once") for m in stack.sandbox.messages(LAUNCH))

        first = sent.Run(redis, "job-1", time.time())
        posted = await post_in(first)
        marks = await redis.hgetall(job_sent("job-1"))
        assert len(marks) == 1 and json.loads(next(iter(marks.values())))["ts"] == posted["ts"]
        # The first run died while Slack answered: its mark still says "unsure". The re-run
        # finds the post by the metadata it carries and does not post it again.
        unsure = {mark: sent.UNSURE for mark in marks}
        again = await post_in(sent.Run(redis, "job-1", first.since, earlier=unsure))
        assert again["ts"] == posted["ts"] and copies() == 1
        # Unsure, and not in the channel (another job's mark): it is sent.
        await post_in(sent.Run(redis, "job-2", first.since, earlier=unsure))
        assert copies() == 2
