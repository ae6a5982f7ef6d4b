"""Use-case grants for a group of people, and grants that expire (issue 14, "Who").

Black box: signed HTTP into the running app, the strict sandbox as Slack (its usergroups.*
methods say who is in `@legal-team`), a real Redis, and the runtime's timer poller on the test's
clock: a grant "for 30 days" lapses when the test moves the clock past it, not after a wait.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.governance.grants import GrantStore
from app.runtime import timers
from tests.e2e import ADMIN, EMPLOYEE, LAUNCH, Stack, running_stack
from tests.test_e2e_governance import admin_request, events, summary_outcome, told

LEGAL = "U0LEGAL"  # in @legal-team (seeded)
DAY = 86400

POLICY = """\
admins: [U0ADMIN]
auditors: [U0SUP]
groups:
  managers: [U0MGR1, U0MGR2]
use_cases:
  summarize:
    channels: [C0GENERAL]
"""


@pytest.fixture
async def stack(redis_url: str, redis_sync: object, tmp_path: Path) -> AsyncIterator[Stack]:
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    async with running_stack(redis_url, tmp_path, steward_policy=policy) as running:
        yield running


async def ask_and_approve(stack: Stack, text: str, label: str = "Approve") -> None:
    sandbox = stack.sandbox
    await sandbox.user(EMPLOYEE).command("/steward", f"request {text}", channel=LAUNCH)
    await sandbox.wait_for(lambda: told(sandbox, EMPLOYEE, "Asked the admins"))
    ask = await sandbox.wait_for(lambda: admin_request(sandbox))
    await sandbox.user(ADMIN).click(label, in_=ask)
    await sandbox.wait_for(lambda: told(sandbox, EMPLOYEE, "approved your request"))


async def test_a_group_grant_lets_a_member_in_and_not_a_non_member(stack: Stack) -> None:
    sandbox = stack.sandbox
    await ask_and_approve(stack, "summarize @legal-team for the contract review")
    ask = admin_request(sandbox)
    assert ask is not None and "for @legal-team until revoked" in json.dumps(ask.blocks)
    assert await summary_outcome(sandbox, LAUNCH, LEGAL) == "summary"
    refused = await summary_outcome(sandbox, LAUNCH, EMPLOYEE)  # asked, but not in the group
    granted = (await events(stack, "use_case_granted"))[0]
    assert (
        f"is on in this channel only for @legal-team (granted request {granted.interaction_id})"
        in refused
    )
    refusal = (await events(stack, "refused"))[-1]
    assert refusal.rule == f"granted request {granted.interaction_id} (for @legal-team)"
    assert granted.extra["audience"] == "@legal-team"
    generated = (await events(stack, "generated"))[0]
    assert (generated.actor_id, generated.rule) == (
        LEGAL,
        f"granted request {granted.interaction_id}",
    )


async def test_a_policy_group_can_be_asked_for(stack: Stack) -> None:
    sandbox = stack.sandbox
    await ask_and_approve(stack, "summarize --group managers the launch retro")
    assert await summary_outcome(sandbox, LAUNCH, "U0MGR2") == "summary"
    assert "only for managers" in await summary_outcome(sandbox, LAUNCH, LEGAL)


async def test_an_unknown_group_is_not_sent_to_the_admins(stack: Stack) -> None:
    sandbox = stack.sandbox
    user = sandbox.user(EMPLOYEE)
    await user.command("/steward", "request summarize @nobody-here x", channel=LAUNCH)
    await sandbox.wait_for(lambda: told(sandbox, EMPLOYEE, "no user group *@nobody-here*"))
    await user.command("/steward", "request summarize --group legal x", channel=LAUNCH)
    await sandbox.wait_for(lambda: told(sandbox, EMPLOYEE, "There is no group *legal*"))
    assert admin_request(sandbox) is None
    assert await events(stack, "use_case_requested") == []


async def test_a_grant_with_an_expiry_lapses_when_the_clock_passes_it(stack: Stack) -> None:
    sandbox = stack.sandbox
    await ask_and_approve(stack, "summarize for 30 days the launch retro")
    told_dm = told(sandbox, EMPLOYEE, "approved your request")[0]
    assert "is now on in <#C0LAUNCH> until " in told_dm
    [grant] = await GrantStore(stack.runtime.services.redis).all()
    assert grant.expires_at is not None
    assert list(await timers.pending(stack.runtime.services.redis)) == [f"grant:{grant.id}"]
    # /steward policy shows the grant and when it ends.
    await sandbox.user(EMPLOYEE).command("/steward", "policy", channel=LAUNCH)
    view = (await sandbox.wait_for(lambda: told(sandbox, EMPLOYEE, "Granted here by request")))[0]
    assert f"expires {grant.expires_at.strftime('%Y-%m-%d %H:%M UTC')}" in view
    assert await summary_outcome(sandbox, LAUNCH) == "summary"

    await stack.clock.advance(29 * DAY)  # not yet
    assert await summary_outcome(sandbox, LAUNCH) == "summary"
    assert await events(stack, "grant_expired") == []

    await stack.clock.advance(DAY + 1)
    [expired] = await sandbox.wait_for(lambda: told(sandbox, EMPLOYEE, "has ended"))
    assert "*summarize* in <#C0LAUNCH> has ended" in expired
    refused = await summary_outcome(sandbox, LAUNCH)
    assert "'summarize' is not enabled in this channel" in refused
    assert (await events(stack, "refused"))[-1].rule == "use_cases.summarize.channels"
    [event] = await events(stack, "grant_expired")
    assert (event.interaction_id, event.use_case, event.channel_id) == (
        grant.id,
        "summarize",
        LAUNCH,
    )
    assert (event.approval_status, event.rule) == ("expired", f"granted request {grant.id}")
    assert event.extra["expires_at"] == grant.expires_at.isoformat()
    assert await GrantStore(stack.runtime.services.redis).all() == []


async def test_an_admin_can_grant_for_a_set_time_and_a_revoke_stops_the_timer(
    stack: Stack,
) -> None:
    sandbox = stack.sandbox
    await ask_and_approve(stack, "summarize the launch retro", label="Approve for 30 days")
    [grant] = await GrantStore(stack.runtime.services.redis).all()
    assert grant.expires_at is not None and (grant.expires_at - grant.at).days in (29, 30)
    granted = (await events(stack, "use_case_granted"))[0]
    assert granted.extra["expires_at"] == grant.expires_at.isoformat()
    # An auditor sees the grant but cannot revoke it; the admin can, and the timer goes too.
    await sandbox.user("U0SUP").command("/steward", "policy", channel=LAUNCH)
    view = (await sandbox.wait_for(lambda: told(sandbox, "U0SUP", "Granted here by request")))[0]
    assert "Revoke" not in view
    await sandbox.user(ADMIN).command("/steward", "policy", channel=LAUNCH)
    shown = await sandbox.wait_for(
        lambda: next(
            (e for e in sandbox.ephemerals(user=ADMIN) if "Revoke" in json.dumps(e.blocks)), None
        )
    )
    await sandbox.user(ADMIN).click("Revoke", in_=shown)
    await sandbox.wait_for(lambda: told(sandbox, ADMIN, "Revoked"))
    assert await timers.pending(stack.runtime.services.redis) == {}
    await stack.clock.advance(31 * DAY)
    assert "not enabled" in await summary_outcome(sandbox, LAUNCH)
    assert await events(stack, "grant_expired") == []
