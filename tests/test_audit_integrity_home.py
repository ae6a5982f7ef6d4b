"""The admin App Home shows the log's integrity (issue 15): the last checkpoint (size, age, where
it was published, what it does not cover yet) and the last `verify` — run as the real CLI, in
another process — intact or naming what was wrong. App Home is opened through the sandbox (a
signed `app_home_opened` event); a non-admin does not see the section."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis

from app.audit.checkpoints import Checkpointer
from app.audit.integrity import VerifyRecord, last_verify
from app.audit.integrity_view import age, verify_line
from tests.e2e import ADMIN, EMPLOYEE, Stack, running_stack
from tests.test_audit_cli import steward
from tests.test_e2e_admin import open_home

AUDIT = "C0AUDITLOG"
POLICY = f"""\
admins: [U0ADMIN]
audit: {{checkpoint_channel: {AUDIT}}}
use_cases:
  summarize:
    channels: ["*"]
"""


@pytest.fixture
async def stack(redis_url: str, redis_sync: object, tmp_path: Path) -> AsyncIterator[Stack]:
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    async with running_stack(redis_url, tmp_path, steward_policy=str(policy)) as running:
        running.sandbox.workspace.add_channel(AUDIT, "audit-log", members=[ADMIN])
        yield running


async def verify_cli(redis_url: str, data_dir: Path) -> int:
    """`steward audit verify` in its own process, as an operator runs it."""
    done = await asyncio.to_thread(steward, redis_url, data_dir, "audit", "verify")
    return done.returncode


async def test_admin_home_shows_the_last_checkpoint_and_the_last_verify(
    stack: Stack, redis_url: str, tmp_path: Path
) -> None:
    services = stack.runtime.services
    first = await open_home(stack, ADMIN)
    assert "Audit log integrity" in first
    assert "*Last checkpoint:* none published yet" in first
    assert "*Last verify:* never" in first

    for k in range(3):
        await services.audit.record(interaction_id=f"i{k}", event="requested", actor_id=EMPLOYEE)
    signer = Checkpointer(
        services.redis, services.settings, policy=lambda: services.policy, slack=services.slack
    )
    published = await signer.publish_now()
    assert published.checkpoint is not None and published.problems == []
    assert await verify_cli(redis_url, tmp_path) == 0

    home = await open_home(stack, ADMIN)
    assert "*Last checkpoint:* 3 events, signed just now" in home
    assert f"published to file `{services.settings.checkpoint_file}`, <#{AUDIT}>" in home
    # verify recorded itself as an event, which the checkpoint does not cover yet
    assert "1 newer events not yet covered" in home
    assert re.search(
        r"\*Last verify:\* intact · 3 events against the checkpoint of 3 · just now "
        r"\(<!date\^\d+\^[^>]+>\) by steward audit verify \([^)]+@[^)]+\)",
        home,
    ), home
    verified = [e async for e in services.audit.export() if e.event == "audit_verified"]
    assert [(e.id, e.extra["verify"]["ok"], e.reason) for e in verified] == [(4, True, None)]

    # Someone deletes the newest events: the next verify says so, and so does App Home.
    tail = cast(
        list[tuple[str, dict[str, str]]],
        await services.redis.xrevrange(services.audit.keys.stream, count=2),
    )
    await services.redis.xdel(services.audit.keys.stream, *[sid for sid, _ in tail])
    assert await verify_cli(redis_url, tmp_path) == 1
    home = await open_home(stack, ADMIN)
    assert "*Last verify:* :rotating_light: *not intact*" in home
    assert "• removed: event 3 is missing" in home
    assert "• truncated: the log holds 2 events, but the checkpoint of" in home
    record = await last_verify(services.redis, services.audit.keys)
    assert record is not None and not record.ok and record.covered == 3
    (event,) = [e async for e in services.audit.export() if e.event == "audit_verified"]
    assert event.id == 5 and event.reason and event.reason.startswith("removed: event 3")
    assert event.extra["verify"]["ok"] is False

    employee = await open_home(stack, EMPLOYEE)
    assert "Audit log integrity" not in employee and "Last verify" not in employee


async def test_verify_on_a_wiped_store_is_kept_but_appends_no_event(
    r: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    """Appending to a wiped store would begin a new chain and hide the wipe as a truncation."""
    from app.audit.log import AuditLog
    from app.runtime.settings import load_settings

    log = AuditLog(r)
    for k in range(4):
        await log.record(interaction_id=f"i{k}", event="requested")
    assert (
        await Checkpointer(r, load_settings(steward_data_dir=tmp_path)).publish_now()
    ).checkpoint
    await r.delete(*[k async for k in r.scan_iter(match="steward:*")])
    assert await verify_cli(redis_url, tmp_path) == 1
    record = await last_verify(r, log.keys)
    assert record is not None and not record.ok
    assert record.problems[0].startswith("wiped: the store holds no audit events")
    assert await r.xlen(log.keys.stream) == 0  # no event: the next verify still says wiped
    assert await verify_cli(redis_url, tmp_path) == 1
    again = await last_verify(r, log.keys)
    assert again is not None and again.problems[0].startswith("wiped: ")


def test_ages_and_a_long_list_of_problems_read_plainly() -> None:
    now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    at = (now - timedelta(minutes=5)).isoformat()
    assert age(at, now) == "5 min ago"
    assert age((now - timedelta(hours=30)).isoformat(), now) == "30 h ago"
    assert age((now - timedelta(days=9)).isoformat(), now) == "9 days ago"
    assert age("garbage", now) == "at an unknown time"
    record = VerifyRecord(
        at=at, by="cron <script>", ok=False, checked=1,
        problems=[f"rewritten: problem {k}" for k in range(5)],
    )  # fmt: skip
    line = verify_line(record, now)
    assert "by cron &lt;script&gt;" in line  # escaped: the runner's name is not markup
    assert line.count("• rewritten") == 3 and "• and 2 more" in line
