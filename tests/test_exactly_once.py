"""Exactly once, even when Slack's answer is lost (issue 12 #10–#12), end to end.

Signed HTTP into the running app, the strict sandbox, a real Redis. The sandbox's
`applied_then_error` / `applied_then_hang` faults make Slack take a post and still answer 500 or
nothing; `server_error` makes it refuse. Time moves only on the stack's clock.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.drafts.views import POSTED_MARKER
from app.governance import keys as budget_keys
from app.runtime import timers
from app.sandbox import Sandbox
from app.sandbox.openai_compat import ModelServer
from app.sandbox.records import Message
from tests.e2e import (
    ADMIN,
    EMPLOYEE,
    LAUNCH,
    MANAGER,
    Stack,
    model_settings,
    retrying,
    running_stack,
)
from tests.test_e2e_draft import (
    OUTSIDER,
    dumps,
    event_names,
    interaction_of,
    labels,
    new_draft,
    posts,
    submitted,
    texts,
    until_event,
    write_policy,
)
from tests.test_e2e_summarize import launch_thread, results


@pytest.fixture
async def stack(redis_url: str, redis_sync: object, tmp_path: Path) -> AsyncIterator[Stack]:
    policy = write_policy(tmp_path)
    async with running_stack(redis_url, tmp_path, steward_policy=str(policy)) as running:
        yield running


def is_draft_post(args: dict[str, Any]) -> bool:
    """A chat.postMessage carrying a draft's marker: the post itself, not the request."""
    return POSTED_MARKER in json.dumps(args.get("blocks"))


def fired(sb: Sandbox, kind: str) -> int:
    return sum(1 for f in sb.faults.fired if f.kind == kind)


async def approved_once(stack: Stack, what: str) -> tuple[str, Message]:
    """A draft submitted and approved by the manager; its interaction id and request."""
    interaction, request = await submitted(stack, what)
    await stack.sandbox.user(MANAGER).click("Approve", in_=request)
    return interaction, request


# ------------------------------------------------------------------ #10: the answer is lost


async def test_post_then_500_posts_once_and_audits_posted_once(stack: Stack) -> None:
    sb = stack.sandbox
    sb.faults.add("chat.postMessage", "applied_then_error", when=is_draft_post)
    interaction, request = await approved_once(stack, "announce the new office hours")
    await until_event(stack, interaction, "posted")
    await sb.wait_for(lambda: any("was posted in" in t for t in texts(sb, EMPLOYEE)))
    assert fired(sb, "applied_then_error") == 1
    # Slack took it once; nobody sent it again (the SDK's server-error retry re-sent it before).
    assert len(posts(sb, LAUNCH)) == 1
    assert len([c for c in sb.calls("chat.postMessage") if is_draft_post(c.args)]) == 1
    names = await event_names(stack, interaction)
    assert names.count("posted") == 1 and "failed" not in names
    await sb.wait_for(lambda: "Approved by" in dumps(request.blocks))
    assert "posting failed" not in dumps(request.blocks)
    assert not any("would not let me post" in t for t in texts(sb, EMPLOYEE))


async def test_post_then_timeout_is_found_posted_and_the_requester_told_so(stack: Stack) -> None:
    sb = stack.sandbox
    client = stack.runtime.services.slack.client
    waited = client.timeout
    # Slack holds the answer longer than the client waits; the post is already in the channel.
    sb.faults.add("chat.postMessage", "applied_then_hang", delay=60, when=is_draft_post)
    client.timeout = 1
    try:
        interaction, _ = await approved_once(stack, "announce the parking garage closure")
        await until_event(stack, interaction, "posted")
    finally:
        client.timeout = waited
    await sb.wait_for(lambda: any("was posted in" in t for t in texts(sb, EMPLOYEE)))
    assert fired(sb, "applied_then_hang") == 1
    assert len(posts(sb, LAUNCH)) == 1
    names = await event_names(stack, interaction)
    assert names[-2:] == ["approved", "posted"] and "failed" not in names
    assert not any("would not let me post" in t for t in texts(sb, EMPLOYEE))


# ------------------------------------------------------------ #11: retried until it lands


async def failed_attempts(stack: Stack, interaction: str, count: int) -> None:
    async def reached() -> bool:
        return (await event_names(stack, interaction)).count("failed") >= count

    await stack.sandbox.wait_for(reached)


async def test_a_5xx_burst_is_retried_by_a_timer_with_backoff_until_it_lands(
    stack: Stack,
) -> None:
    sb = stack.sandbox
    sb.faults.add("chat.postMessage", "server_error", times=3, when=is_draft_post)
    interaction, request = await approved_once(stack, "announce the cafeteria reopening")
    await failed_attempts(stack, interaction, 1)
    await sb.wait_for(lambda: "retrying in 1 min" in dumps(request.blocks))
    assert labels(request.blocks) == ["Cancel posting"]  # no Approve / Reject any more
    await sb.wait_for(lambda: any("keeps retrying" in t for t in texts(sb, EMPLOYEE)))
    redis = stack.runtime.services.redis
    assert f"{interaction}:post_retry:1" in await timers.pending(redis)

    for n, wait in ((2, 60), (3, 120)):  # 1 min, then 2 min: the backoff doubles
        await stack.clock.advance(wait)
        await failed_attempts(stack, interaction, n)
    await sb.wait_for(lambda: "retrying in 4 min" in dumps(request.blocks))
    assert posts(sb, LAUNCH) == []
    await stack.clock.advance(240)
    await until_event(stack, interaction, "posted")
    await sb.wait_for(lambda: "· posted" in dumps(request.blocks))

    assert fired(sb, "server_error") == 3
    assert len(posts(sb, LAUNCH)) == 1
    trail = await stack.runtime.services.audit.events_for(interaction)
    names = [e.event for e in trail]
    assert names[-4:] == ["failed", "failed", "failed", "posted"]
    failed = [e for e in trail if e.event == "failed"]
    assert [e.extra["attempt"] for e in failed] == [1, 2, 3]
    assert [e.extra["retry_in_s"] for e in failed] == [60, 120, 240]
    assert all(e.reason == "post: internal_error" for e in failed)
    assert labels(request.blocks) == []
    assert not [t for t in await timers.pending(redis) if ":post_retry:" in t]
    await sb.wait_for(lambda: any("was posted in" in t for t in texts(sb, EMPLOYEE)))
    told = texts(sb, EMPLOYEE)
    assert sum("keeps retrying" in t for t in told) == 1  # told once, not per attempt
    assert sum("was posted in" in t for t in told) == 1


async def test_post_again_during_retries_says_it_is_retrying_not_already_posted(
    stack: Stack,
) -> None:
    sb = stack.sandbox
    sb.faults.add("chat.postMessage", "server_error", times=1, when=is_draft_post)
    draft = await new_draft(stack, "share the new wiki link", channel="C0PUBLIC")
    interaction = interaction_of(draft)
    await sb.user(EMPLOYEE).click("Post", in_=draft)
    await failed_attempts(stack, interaction, 1)
    await sb.user(EMPLOYEE).click("Post", in_=draft)
    await sb.wait_for(lambda: any("Steward retries it in" in t for t in texts(sb, EMPLOYEE)))
    assert not any("already posted" in t for t in texts(sb, EMPLOYEE))
    await stack.clock.advance(60)
    await until_event(stack, interaction, "posted")
    assert len(posts(sb, "C0PUBLIC")) == 1
    names = await event_names(stack, interaction)
    assert names.count("failed") == 1 and names.count("posted") == 1


async def test_only_an_admin_can_cancel_a_failing_post_and_it_stops(stack: Stack) -> None:
    sb = stack.sandbox
    sb.faults.add("chat.postMessage", "server_error", times=None, when=is_draft_post)
    interaction, request = await approved_once(stack, "announce the badge reader upgrade")
    await failed_attempts(stack, interaction, 1)
    await sb.wait_for(lambda: "Cancel posting" in labels(request.blocks))

    for user in (MANAGER, OUTSIDER):  # the approver is not an admin either
        await sb.user(user).click("Cancel posting", in_=request)
        await sb.wait_for(lambda u=user: any("Only Steward admins" in t for t in texts(sb, u)))  # type: ignore[misc]
    refused = [e async for e in stack.runtime.services.audit.export() if e.event == "refused"]
    assert [(e.actor_id, e.reason) for e in refused] == [
        (MANAGER, "cancel posting: admins only"),
        (OUTSIDER, "cancel posting: admins only"),
    ]
    redis = stack.runtime.services.redis
    assert f"{interaction}:post_retry:1" in await timers.pending(redis)

    await sb.user(ADMIN).click("Cancel posting", in_=request)
    await until_event(stack, interaction, "discarded")
    await sb.wait_for(lambda: "cancelled by <@U0ADMIN>" in dumps(request.blocks))
    assert labels(request.blocks) == []
    assert not [t for t in await timers.pending(redis) if ":post_retry:" in t]
    await sb.wait_for(lambda: any("cancelled the retries" in t for t in texts(sb, EMPLOYEE)))

    attempts = fired(sb, "server_error")
    trail = await stack.runtime.services.audit.events_for(interaction)
    names = [e.event for e in trail]
    assert names[-2:] == ["failed", "discarded"] and "posted" not in names
    cancelled = trail[-1]
    assert cancelled.actor_id == ADMIN and cancelled.approver_id == MANAGER
    assert "cancelled by an admin" in (cancelled.reason or "")
    assert posts(sb, LAUNCH) == [] and attempts == 1


# ------------------------------------------------ #12: delivery retried, work not redone


async def test_a_failed_final_ephemeral_is_delivered_later_without_redoing_the_summary(
    redis_url: str, redis_sync: object, tmp_path: Path, model: ModelServer
) -> None:
    async with running_stack(redis_url, tmp_path, **model_settings(model.url)) as stack:
        sb = stack.sandbox

        def is_result(args: dict[str, Any]) -> bool:
            return str(args.get("text", "")).startswith("Summary of a thread")

        sb.faults.add("chat.postEphemeral", "server_error", times=2, when=is_result)
        await sb.user(EMPLOYEE).message_shortcut("summarize_thread", launch_thread(sb))
        await retrying(stack, lambda: results(sb))
        assert fired(sb, "server_error") == 2
        trail = [e async for e in stack.runtime.services.audit.export()]
        names = [e.event for e in trail]
        assert names == ["requested", "generated"]
        generated = trail[-1]
        assert len(model.requests) == generated.extra["model_calls"]  # the model ran once
        redis = stack.runtime.services.redis
        requests = await redis.zcard(budget_keys.user_requests(generated.team_id, EMPLOYEE))
        assert requests == 1  # one budget reservation
        assert len(results(sb)) == 1  # seen once
        assert sum("Summarising" in t for t in texts(sb, EMPLOYEE)) == 1


async def test_a_failed_draft_ephemeral_is_shown_later_without_a_second_draft(
    stack: Stack,
) -> None:
    sb = stack.sandbox

    def is_draft(args: dict[str, Any]) -> bool:
        return str(args.get("text", "")).startswith("Draft for")

    sb.faults.add("chat.postEphemeral", "server_error", times=2, when=is_draft)
    await sb.user(EMPLOYEE).command("/draft", "announce the new coffee machine", channel=LAUNCH)
    shown = await retrying(stack, lambda: [e for e in sb.ephemerals(user=EMPLOYEE)
                                           if "Discard" in labels(e.blocks)])  # fmt: skip
    assert fired(sb, "server_error") == 2
    trail = [e async for e in stack.runtime.services.audit.export()]
    assert [e.event for e in trail] == ["requested", "generated"]
    assert len(shown) == 1 and interaction_of(shown[0]) == trail[0].interaction_id
