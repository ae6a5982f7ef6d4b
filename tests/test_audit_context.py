"""`AuditLog.record_in`: an interaction's typed `AuditContext` plus one event's details."""

from __future__ import annotations

import pydantic
import pytest
import redis.asyncio as aioredis

from app.audit.event import AuditContext
from app.audit.log import AuditLog

CONTEXT = AuditContext(
    interaction_id="i1", actor_id="U1", team_id="T1", channel_id="C1", use_case="summarize",
    rule="channels.C1",
)  # fmt: skip


async def test_an_event_carries_its_context_and_details(r: aioredis.Redis) -> None:
    log = AuditLog(r)
    stored = await log.record_in(CONTEXT, "generated", model="gpt-x", tokens_in=3)
    assert (stored.interaction_id, stored.actor_id, stored.team_id) == ("i1", "U1", "T1")
    assert (stored.channel_id, stored.use_case, stored.rule) == ("C1", "summarize", "channels.C1")
    assert (stored.model, stored.tokens_in, stored.id) == ("gpt-x", 3, 1)
    assert await log.events_for("i1") == [stored]
    assert (await log.verify()).ok


async def test_a_detail_overrides_the_context_rule(r: aioredis.Redis) -> None:
    log = AuditLog(r)
    stored = await log.record_in(CONTEXT, "refused", rule="budget", reason="over budget")
    assert (stored.rule, stored.reason) == ("budget", "over budget")
    state = await log.state("i1")
    assert state is not None and (state.rule, state.event) == ("budget", "refused")


async def test_a_malformed_detail_is_refused_before_anything_is_written(r: aioredis.Redis) -> None:
    log = AuditLog(r)
    with pytest.raises(pydantic.ValidationError):
        await log.record_in(CONTEXT, "generated", confidence=1.5)
    assert await log.head() == ("0" * 64, 0)
