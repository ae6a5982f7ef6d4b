import asyncio
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

from app.governance.budget import Budget, BudgetExceeded, Budgets, Reservation
from app.governance.keys import team_tokens as team_tokens_key
from app.governance.keys import user_requests as requests_key
from app.governance.keys import user_tokens as user_tokens_key

NOON = datetime(2030, 5, 17, 12, 0, 0, tzinfo=UTC)
MIDNIGHT = datetime(2030, 5, 18, tzinfo=UTC)
ROOMY = Budget(
    user_daily_tokens=1_000_000, team_daily_tokens=10_000_000, user_requests_per_minute=1000
)


def limits(**changes: int) -> Budget:
    values = {
        "user_daily_tokens": ROOMY.user_daily_tokens,
        "team_daily_tokens": ROOMY.team_daily_tokens,
        "user_requests_per_minute": ROOMY.user_requests_per_minute,
    } | changes
    return Budget(**values)


async def test_concurrent_reservations_never_exceed_the_user_limit(
    r: aioredis.Redis, redis_url: str
) -> None:
    # Two clients stand in for two processes; 100 reservations race for room for exactly 37.
    other = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        budgets = [Budgets(r), Budgets(other)]
        budget = limits(user_daily_tokens=3700)
        results = await asyncio.gather(
            *(budgets[i % 2].reserve("T1", "U1", 100, budget, now=NOON) for i in range(100))
        )
    finally:
        await other.aclose()
    granted = [x for x in results if isinstance(x, Reservation)]
    refused = [x for x in results if isinstance(x, BudgetExceeded)]
    assert len(granted) == 37
    assert len(refused) == 63
    assert {x.which for x in refused} == {"user_daily_tokens"}
    assert await r.get(user_tokens_key("T1", "U1", NOON.date())) == "3700"


async def test_team_limit_is_shared_across_users(r: aioredis.Redis) -> None:
    budgets = Budgets(r)
    budget = limits(team_daily_tokens=1000)
    results = await asyncio.gather(
        *(budgets.reserve("T1", f"U{i}", 300, budget, now=NOON) for i in range(10))
    )
    assert sum(isinstance(x, Reservation) for x in results) == 3
    refusal = next(x for x in results if isinstance(x, BudgetExceeded))
    assert refusal.which == "team_daily_tokens"
    assert (refusal.limit, refusal.used) == (1000, 900)
    # Another team is unaffected.
    assert isinstance(await budgets.reserve("T2", "U1", 300, budget, now=NOON), Reservation)


async def test_concurrent_requests_per_minute(r: aioredis.Redis) -> None:
    budgets = Budgets(r)
    budget = limits(user_requests_per_minute=7)
    results = await asyncio.gather(
        *(budgets.reserve("T1", "U1", 1, budget, now=NOON) for _ in range(50))
    )
    assert sum(isinstance(x, Reservation) for x in results) == 7


async def test_refusal_reserves_nothing(r: aioredis.Redis) -> None:
    budgets = Budgets(r)
    budget = limits(user_daily_tokens=500, user_requests_per_minute=1)
    assert isinstance(await budgets.reserve("T1", "U1", 100, budget, now=NOON), Reservation)
    refused = await budgets.reserve("T1", "U1", 100, budget, now=NOON)
    assert isinstance(refused, BudgetExceeded)
    assert refused.which == "user_requests_per_minute"
    assert await r.get(user_tokens_key("T1", "U1", NOON.date())) == "100"
    assert await r.get(team_tokens_key("T1", NOON.date())) == "100"
    assert await r.zcard(requests_key("T1", "U1")) == 1


async def test_daily_refusal_resets_at_next_utc_midnight(r: aioredis.Redis) -> None:
    budgets = Budgets(r)
    budget = limits(user_daily_tokens=1000)
    assert isinstance(await budgets.reserve("T1", "U1", 800, budget, now=NOON), Reservation)
    refused = await budgets.reserve("T1", "U1", 300, budget, now=NOON)
    assert refused == BudgetExceeded("user_daily_tokens", 1000, 800, MIDNIGHT, requested=300)
    assert refused.message() == (
        "This request needs about 300 tokens but only 200 of your daily AI budget of 1,000 are "
        "left. It resets at 00:00:00 UTC."
    )
    # A second before midnight it is still refused; at midnight the new day's counter is empty.
    late = MIDNIGHT - timedelta(seconds=1)
    assert isinstance(await budgets.reserve("T1", "U1", 300, budget, now=late), BudgetExceeded)
    assert isinstance(await budgets.reserve("T1", "U1", 300, budget, now=MIDNIGHT), Reservation)


async def test_daily_keys_expire_an_hour_after_their_day(r: aioredis.Redis) -> None:
    budgets = Budgets(r)
    await budgets.reserve("T1", "U1", 10, ROOMY, now=NOON)
    expected = (MIDNIGHT + timedelta(hours=1) - NOON).total_seconds()
    for key in (user_tokens_key("T1", "U1", NOON.date()), team_tokens_key("T1", NOON.date())):
        assert abs(await r.ttl(key) - expected) <= 2
    assert 0 < await r.pttl(requests_key("T1", "U1")) <= 60_000


async def test_request_rate_is_a_sliding_window(r: aioredis.Redis) -> None:
    budgets = Budgets(r)
    budget = limits(user_requests_per_minute=2)
    first, second = NOON + timedelta(seconds=50), NOON + timedelta(seconds=55)
    assert isinstance(await budgets.reserve("T1", "U1", 1, budget, now=first), Reservation)
    assert isinstance(await budgets.reserve("T1", "U1", 1, budget, now=second), Reservation)
    # 12:01:05 is a new clock minute, so a fixed window would allow it; the sliding one must not.
    refused = await budgets.reserve("T1", "U1", 1, budget, now=NOON + timedelta(seconds=65))
    assert refused == BudgetExceeded("user_requests_per_minute", 2, 2, first + timedelta(minutes=1))


async def test_request_rate_resets_when_the_oldest_request_is_a_minute_old(
    r: aioredis.Redis,
) -> None:
    budgets = Budgets(r)
    budget = limits(user_requests_per_minute=2)
    first, second = NOON, NOON + timedelta(seconds=30)
    await budgets.reserve("T1", "U1", 1, budget, now=first)
    await budgets.reserve("T1", "U1", 1, budget, now=second)
    refused = await budgets.reserve("T1", "U1", 1, budget, now=NOON + timedelta(seconds=45))
    assert refused == BudgetExceeded("user_requests_per_minute", 2, 2, first + timedelta(minutes=1))
    assert "Try again after 12:01:00 UTC" in refused.message()
    # At the reset time the first request has left the window: one slot, not two.
    at_reset = first + timedelta(minutes=1)
    assert isinstance(await budgets.reserve("T1", "U1", 1, budget, now=at_reset), Reservation)
    assert isinstance(await budgets.reserve("T1", "U1", 1, budget, now=at_reset), BudgetExceeded)


async def test_settle_refunds_and_charges_the_difference(r: aioredis.Redis) -> None:
    budgets = Budgets(r)
    user_key = user_tokens_key("T1", "U1", NOON.date())
    team_key = team_tokens_key("T1", NOON.date())
    first = await budgets.reserve("T1", "U1", 1000, ROOMY, now=NOON)
    second = await budgets.reserve("T1", "U1", 500, ROOMY, now=NOON)
    assert isinstance(first, Reservation) and isinstance(second, Reservation)
    assert await budgets.settle(first, 200) is True  # used less than estimated: 800 back
    assert await r.get(user_key) == "700"
    assert await budgets.settle(second, 900) is True  # used more: 400 more
    assert await r.get(user_key) == "1100"
    assert await r.get(team_key) == "1100"


async def test_settle_is_idempotent(r: aioredis.Redis) -> None:
    budgets = Budgets(r)
    reservation = await budgets.reserve("T1", "U1", 1000, ROOMY, now=NOON)
    assert isinstance(reservation, Reservation)
    assert await budgets.settle(reservation, 0) is True
    assert await budgets.settle(reservation, 0) is False
    assert await r.get(user_tokens_key("T1", "U1", NOON.date())) == "0"


async def test_settle_refund_makes_room_again(r: aioredis.Redis) -> None:
    budgets = Budgets(r)
    budget = limits(user_daily_tokens=1000)
    reservation = await budgets.reserve("T1", "U1", 1000, budget, now=NOON)
    assert isinstance(reservation, Reservation)
    assert isinstance(await budgets.reserve("T1", "U1", 1, budget, now=NOON), BudgetExceeded)
    await budgets.settle(reservation, 100)
    assert isinstance(await budgets.reserve("T1", "U1", 900, budget, now=NOON), Reservation)


async def test_settle_after_the_counter_expired_creates_no_key(r: aioredis.Redis) -> None:
    budgets = Budgets(r)
    reservation = await budgets.reserve("T1", "U1", 10, ROOMY, now=NOON)
    assert isinstance(reservation, Reservation)
    await r.delete(user_tokens_key("T1", "U1", NOON.date()))
    await budgets.settle(reservation, 50)
    assert await r.exists(user_tokens_key("T1", "U1", NOON.date())) == 0


async def test_remaining(r: aioredis.Redis) -> None:
    budgets = Budgets(r)
    budget = Budget(user_daily_tokens=1000, team_daily_tokens=5000, user_requests_per_minute=5)
    await budgets.reserve("T1", "U1", 300, budget, now=NOON)
    await budgets.reserve("T1", "U2", 200, budget, now=NOON + timedelta(seconds=10))
    left = await budgets.remaining("T1", "U1", budget, now=NOON + timedelta(seconds=20))
    assert left["user_daily_tokens"].used == 300
    assert left["user_daily_tokens"].remaining == 700
    assert left["user_daily_tokens"].resets_at == MIDNIGHT
    assert left["team_daily_tokens"].used == 500
    assert left["user_requests_per_minute"].used == 1
    assert left["user_requests_per_minute"].resets_at == NOON + timedelta(minutes=1)
    later = await budgets.remaining("T1", "U1", budget, now=NOON + timedelta(minutes=2))
    assert later["user_requests_per_minute"].used == 0


async def test_zero_estimate_still_counts_as_a_request(r: aioredis.Redis) -> None:
    budgets = Budgets(r)
    budget = limits(user_requests_per_minute=1)
    assert isinstance(await budgets.reserve("T1", "U1", 0, budget, now=NOON), Reservation)
    assert isinstance(await budgets.reserve("T1", "U1", 0, budget, now=NOON), BudgetExceeded)


async def test_used_up_message(r: aioredis.Redis) -> None:
    budgets = Budgets(r)
    budget = limits(team_daily_tokens=1000)
    await budgets.reserve("T1", "U1", 1000, budget, now=NOON)
    refused = await budgets.reserve("T1", "U2", 1, budget, now=NOON)
    assert isinstance(refused, BudgetExceeded)
    assert refused.message() == (
        "You've reached your team's daily AI budget (1,000 of 1,000 tokens). "
        "It resets at 00:00:00 UTC."
    )
