import json
from datetime import UTC, datetime

import redis.asyncio as aioredis

from app.governance.keys import PAUSE_CHANNEL as CHANNEL
from app.governance.keys import PAUSE_STATE as STATE_KEY
from app.governance.pause import PauseState, PauseSwitch


async def test_not_paused_by_default(r: aioredis.Redis) -> None:
    switch = PauseSwitch(r)
    assert await switch.state() is None
    assert await switch.is_paused() is False


async def test_pause_and_resume(r: aioredis.Redis) -> None:
    switch = PauseSwitch(r)
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    state = await switch.pause("U0ADMIN", "model misbehaving", now=at)
    assert state == PauseState("U0ADMIN", "model misbehaving", at)
    assert await switch.state() == state
    assert await switch.is_paused() is True
    assert await switch.resume("U0ADMIN2") == state
    assert await switch.state() is None
    assert await switch.resume("U0ADMIN2") is None  # resuming twice: nothing was paused


async def test_state_is_shared_between_clients(r: aioredis.Redis, redis_url: str) -> None:
    other = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        await PauseSwitch(r).pause("U0ADMIN", "incident")
        state = await PauseSwitch(other).state()
    finally:
        await other.aclose()
    assert state is not None
    assert (state.by, state.reason) == ("U0ADMIN", "incident")


async def test_pausing_again_replaces_the_reason(r: aioredis.Redis) -> None:
    switch = PauseSwitch(r)
    await switch.pause("U1", "first")
    await switch.pause("U2", "second")
    state = await switch.state()
    assert state is not None and (state.by, state.reason) == ("U2", "second")
    raw = await r.get(STATE_KEY)
    assert raw is not None and json.loads(raw)["reason"] == "second"


async def test_subscribers_hear_pause_and_resume(r: aioredis.Redis, redis_url: str) -> None:
    listener_client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        async with PauseSwitch(listener_client).subscribe() as subscription:
            await PauseSwitch(r).pause("U0ADMIN", "incident")
            paused = await subscription.next(timeout=5)
            await PauseSwitch(r).resume("U0ADMIN")
            resumed = await subscription.next(timeout=5)
    finally:
        await listener_client.aclose()
    assert paused is not None and paused.paused and paused.state is not None
    assert (paused.by, paused.state.reason) == ("U0ADMIN", "incident")
    assert resumed is not None and not resumed.paused and resumed.by == "U0ADMIN"


async def test_subscription_iterates_and_ignores_nothing_published(r: aioredis.Redis) -> None:
    switch = PauseSwitch(r)
    async with switch.subscribe() as subscription:
        assert await subscription.next(timeout=0.05) is None
        await r.publish(
            CHANNEL, json.dumps({"paused": True, "by": "U1", "at": "2030-01-01T00:00:00+00:00"})
        )
        event = await anext(aiter(subscription))
    assert event.paused and event.by == "U1"


async def test_malformed_messages_are_skipped(r: aioredis.Redis) -> None:
    async with PauseSwitch(r).subscribe() as subscription:
        await r.publish(CHANNEL, "not json")
        await r.publish(CHANNEL, json.dumps({"paused": True}))  # no "by"
        await PauseSwitch(r).pause("U9", "real")
        event = await subscription.next(timeout=5)
    assert event is not None and event.by == "U9"
