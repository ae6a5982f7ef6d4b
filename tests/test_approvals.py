"""The approval state machine on a real Redis: first decision wins, re-entry, exactly-once post."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import redis.asyncio as aioredis

from app.drafts import views as view
from app.drafts.posting import ensure_posted
from app.drafts.store import DraftRecord, Drafts
from app.governance.approvers import members_of
from app.governance.policy import load_policy_text
from app.runtime.services import Services
from tests.e2e import LAUNCH, MANAGER, running_stack


def record(interaction_id: str = "i1", **extra: Any) -> DraftRecord:
    values: dict[str, Any] = {
        "interaction_id": interaction_id,
        "team_id": "T1",
        "user_id": "U0EMP",
        "channel_id": LAUNCH,
        "request": "announce it",
        "engine": "offline",
        "model": "template-v1",
        "confidence": 0.8,
        "confidence_label": "High",
    }
    values.update(extra)
    return DraftRecord(**values)


def fake_services(r: aioredis.Redis, **extra: Any) -> Services:
    return cast(Services, SimpleNamespace(redis=r, **extra))


async def pending_draft(r: aioredis.Redis, interaction_id: str = "i1") -> Drafts:
    drafts = Drafts(r)
    await drafts.create(record(interaction_id), "hello")
    outcome = await drafts.transition(
        interaction_id, ["draft"], "pending", actor="U0EMP", click="submit", expect_step=0
    )
    assert outcome.won
    return drafts


async def test_first_of_many_concurrent_decisions_wins(r: aioredis.Redis) -> None:
    drafts = await pending_draft(r)
    outcomes = await asyncio.gather(
        *(
            drafts.transition(
                "i1",
                ["pending"],
                "approved" if n % 3 else "rejected",
                actor=f"U{n}",
                click=f"c{n}",
                expect_step=0,
            )
            for n in range(100)
        )
    )
    winners = [o for o in outcomes if o.won]
    assert len(winners) == 1
    losers = [o for o in outcomes if not o.won]
    assert {(o.result, o.status, o.by) for o in losers} == {
        ("lost", winners[0].status, winners[0].by)
    }
    state = await drafts.get("i1")
    assert state is not None and state.status == winners[0].status and state.by == winners[0].by


async def test_the_same_click_re_enters_as_the_winner(r: aioredis.Redis) -> None:
    drafts = await pending_draft(r)
    first = await drafts.transition("i1", ["pending"], "approved", actor="U1", click="k")
    again = await drafts.transition("i1", ["pending"], "approved", actor="U1", click="k")
    other = await drafts.transition("i1", ["pending"], "approved", actor="U1", click="k2")
    assert first.won and again.won and not other.won


async def test_a_decision_for_a_step_that_moved_is_not_taken(r: aioredis.Redis) -> None:
    drafts = await pending_draft(r)
    escalated = await drafts.transition(
        "i1", ["pending"], "pending", actor="steward", click="esc1", expect_step=0, step=1
    )
    assert escalated.won
    stale = await drafts.transition(
        "i1", ["pending"], "approved", actor="U1", click="c", expect_step=0
    )
    assert stale.result == "moved"
    state = await drafts.get("i1")
    assert state is not None and state.status == "pending" and state.step == 1


async def test_text_changes_only_while_a_draft(r: aioredis.Redis) -> None:
    drafts = Drafts(r)
    await drafts.create(record(), "one")
    assert await drafts.set_text("i1", "draft", "two") == "one"
    await drafts.transition("i1", ["draft"], "pending", actor="U0EMP", click="s")
    assert await drafts.set_text("i1", "draft", "three") is None
    state = await drafts.get("i1")
    assert state is not None and state.text == "two"


async def test_post_claims(r: aioredis.Redis) -> None:
    drafts = await pending_draft(r)
    assert (await drafts.claim_post("i1", "c"))[0] == "not_ready"
    await drafts.transition("i1", ["pending"], "approved", actor="U1", click="c")
    assert await drafts.claim_post("i1", "c") == ("claimed", "1")
    assert (await drafts.claim_post("i1", "other"))[0] == "busy"
    assert await drafts.claim_post("i1", "c") == ("claimed", "2")  # the same job, re-run
    await drafts.set("i1", posted_ts="123.4")
    assert await drafts.claim_post("i1", "other") == ("posted", "123.4")


class CountingSlack:
    def __init__(self) -> None:
        self.calls = 0

    async def usergroup_members(self, handle: str) -> list[str]:
        self.calls += 1
        return ["U0LEGAL"] if handle == "@legal-team" else []


async def test_group_members_resolve_handles_and_cache_them(r: aioredis.Redis) -> None:
    policy = load_policy_text(
        "groups:\n  legal: ['@legal-team', U0ADMIN]\nuse_cases:\n  draft:\n    channels: ['*']\n"
    )
    slack = CountingSlack()
    settings = SimpleNamespace(steward_group_cache_seconds=60)
    services = fake_services(r, policy=policy, slack=slack, settings=settings)
    assert await members_of(services, "legal") == ["U0ADMIN", "U0LEGAL"]
    assert await members_of(services, "legal") == ["U0ADMIN", "U0LEGAL"]
    assert slack.calls == 1  # cached in Redis between clicks
    assert 0 < await r.ttl("steward:usergroup:@legal-team") <= 60  # STEWARD_GROUP_CACHE_SECONDS
    assert await members_of(services, "nobody") == []


async def test_a_post_interrupted_after_slack_answered_is_not_repeated(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    async with running_stack(redis_url, tmp_path, workers=0) as stack:
        services = stack.runtime.services
        drafts = Drafts(services.redis)
        for rid in ("crashed-after-post", "crashed-before-post"):
            await drafts.create(record(rid), f"text of {rid}")
            await drafts.transition(rid, ["draft"], "pending", actor="U0EMP", click="s")
            await drafts.transition(rid, ["pending"], "approved", actor=MANAGER, click="job")
            await drafts.claim_post(rid, "job")  # the first attempt claimed the post…
        # …and for one of them Slack took the post before the worker died.
        message = view.posted_message("text of crashed-after-post", "Drafted", "crashed-after-post")
        earlier = await services.slack.post_message(LAUNCH, message.text, message.blocks)

        for rid in ("crashed-after-post", "crashed-before-post"):
            state = await drafts.get(rid)
            assert state is not None
            await ensure_posted(services, drafts, state, "job", approver=MANAGER)

        sb = stack.sandbox
        posted = [m.text for m in sb.messages(LAUNCH) if m.text.startswith("text of")]
        assert sorted(posted) == ["text of crashed-after-post", "text of crashed-before-post"]
        after = await drafts.get("crashed-after-post")
        assert after is not None and after.posted_ts == earlier["ts"]
