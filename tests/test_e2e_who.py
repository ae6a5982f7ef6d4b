"""Who may use a use case, and what each role may do (issue 14, "Who").

Black box: signed HTTP into the running app, the strict sandbox as Slack (its `usergroups.*`
methods answer who is in `@eng-managers`), a loopback model server, a real Redis. The policy
limits summaries in #launch to a Slack user group, denies one person everywhere, and names an
auditor.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.audit.event import AuditEvent
from app.governance.watch import PolicyWatcher
from app.sandbox import Sandbox
from app.sandbox.openai_compat import ModelServer
from tests.e2e import EMPLOYEE, GENERAL, LAUNCH, Stack, model_settings, running_stack
from tests.test_e2e_governance import admin_request, summary_outcome, told

DESIGNER = "U0DES"  # in @eng-managers
ENGINEER = "U0ENG"  # listed in users, and in deny_users
AUDITOR = "U0SUP"

POLICY = """\
admins: [U0ADMIN]
auditors: [U0SUP]
groups:
  managers: [U0MGR1, U0MGR2]
use_cases:
  summarize:
    channels: ["*"]
    users: [managers, U0EMP, U0ENG, "@eng-managers"]
    deny_users: [U0ENG]
  draft:
    channels: [C0GENERAL]
channels:
  C0LAUNCH:
    summarize: {users: ["@eng-managers"]}
"""


@pytest.fixture
async def model() -> AsyncIterator[ModelServer]:
    async with ModelServer() as server:
        yield server


@pytest.fixture
async def who(
    redis_url: str, redis_sync: object, tmp_path: Path, model: ModelServer
) -> AsyncIterator[Stack]:
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    async with running_stack(
        redis_url, tmp_path, steward_policy=policy, **model_settings(model.url)
    ) as stack:
        stack.sandbox.workspace.add_usergroup(
            "S0ENGMGR", "eng-managers", "Eng managers", [DESIGNER]
        )
        for user in (DESIGNER, ENGINEER, AUDITOR):
            stack.sandbox.workspace.channels[LAUNCH].members.add(user)
            stack.sandbox.workspace.channels[GENERAL].members.add(user)
        yield stack


async def refusals(stack: Stack) -> list[AuditEvent]:
    return [e async for e in stack.runtime.services.audit.export() if e.event == "refused"]


def reads(sandbox: Sandbox) -> int:
    """Calls that read a conversation: a refused request must make none."""
    return len(sandbox.calls("conversations.history")) + len(sandbox.calls("conversations.replies"))


async def test_a_person_outside_the_group_is_refused_with_the_rule_before_any_work(
    who: Stack, model: ModelServer
) -> None:
    sandbox = who.sandbox
    refused = await summary_outcome(sandbox, LAUNCH, EMPLOYEE)
    assert "is limited to @eng-managers by the policy" in refused
    assert "(channels.C0LAUNCH.summarize.users)" in refused
    events = await refusals(who)
    assert [(e.actor_id, e.channel_id, e.reason, e.rule) for e in events] == [
        (EMPLOYEE, LAUNCH, "policy", "channels.C0LAUNCH.summarize.users")
    ]
    assert reads(sandbox) == 0
    assert model.requests == []


async def test_a_member_of_the_allowed_user_group_is_served(who: Stack, model: ModelServer) -> None:
    sandbox = who.sandbox
    assert await summary_outcome(sandbox, LAUNCH, DESIGNER) == "summary"
    assert sandbox.calls("usergroups.users.list")
    assert model.requests  # served by the model, not refused on the way
    generated = [e async for e in who.runtime.services.audit.export() if e.event == "generated"]
    assert [e.actor_id for e in generated] == [DESIGNER]
    # Why? shows both rules that let them in: where, then who.
    assert generated[0].rule == "channels.C0LAUNCH.summarize; channels.C0LAUNCH.summarize.users"


async def test_deny_beats_allow(who: Stack, model: ModelServer) -> None:
    sandbox = who.sandbox
    refused = await summary_outcome(sandbox, GENERAL, ENGINEER)
    assert "use_cases.summarize.deny_users" in refused
    assert [e.rule for e in await refusals(who)] == ["use_cases.summarize.deny_users"]
    # The plain user ID in `users` lets the employee in where no override narrows it.
    assert await summary_outcome(sandbox, GENERAL, EMPLOYEE) == "summary"
    assert reads(sandbox) > 0


async def test_a_slack_outage_while_resolving_groups_is_a_clear_refusal(
    who: Stack, model: ModelServer
) -> None:
    sandbox = who.sandbox
    sandbox.faults.add("usergroups.list", "error", error="service_unavailable", times=None)
    refused = await summary_outcome(sandbox, LAUNCH, DESIGNER)
    assert "Couldn't check who may use 'summarize' here" in refused
    assert [e.rule for e in await refusals(who)] == [
        "users of summarize: Slack user groups unavailable (service_unavailable)"
    ]
    assert reads(sandbox) == 0 and model.requests == []
    # Slack is back: the failure was not cached, so the next request is served.
    sandbox.faults.clear()
    assert await summary_outcome(sandbox, LAUNCH, DESIGNER) == "summary"


async def test_group_members_are_cached_until_the_policy_is_reloaded(
    who: Stack, tmp_path: Path
) -> None:
    sandbox = who.sandbox
    assert await summary_outcome(sandbox, LAUNCH, DESIGNER) == "summary"
    asked = len(sandbox.calls("usergroups.users.list"))
    group = sandbox.workspace.usergroups["S0ENGMGR"]
    group.users = []  # removed in Slack; the cached members still say yes
    assert await summary_outcome(sandbox, LAUNCH, DESIGNER) == "summary"
    assert len(sandbox.calls("usergroups.users.list")) == asked
    # A reload (any effective change) forgets the cached members, so Slack's answer applies.
    (tmp_path / "policy.yml").write_text(POLICY.replace("U0MGR2]", "U0MGR2, U0LEGAL]"))
    watcher = PolicyWatcher(who.runtime.services, tmp_path / "policy.yml")
    assert await watcher.check_once() == "reloaded"
    refused = await summary_outcome(sandbox, LAUNCH, DESIGNER)
    assert "is limited to @eng-managers" in refused


async def test_policy_command_shows_the_person_their_role_and_which_rule_applies(
    who: Stack,
) -> None:
    sandbox = who.sandbox
    await sandbox.user(DESIGNER).command("/steward", "policy", channel=LAUNCH)
    view = (await sandbox.wait_for(lambda: told(sandbox, DESIGNER, "AI policy")))[0]
    assert "*summarize* — on (rule `channels.C0LAUNCH.summarize`)" in view
    assert "you may: `channels.C0LAUNCH.summarize.users`" in view
    assert "You are *a member*" in view
    await sandbox.user(AUDITOR).command("/steward", "policy", channel=LAUNCH)
    view = (await sandbox.wait_for(lambda: told(sandbox, AUDITOR, "AI policy")))[0]
    assert "*summarize* — not for you (rule `channels.C0LAUNCH.summarize.users`)" in view
    assert "You are *an auditor" in view


async def test_an_auditor_reads_anything_and_exports_but_cannot_pause_or_decide(
    who: Stack,
) -> None:
    sandbox = who.sandbox
    assert await summary_outcome(sandbox, LAUNCH, DESIGNER) == "summary"
    auditor = sandbox.user(AUDITOR)
    await auditor.command("/steward", "audit", channel=GENERAL)
    listing = await sandbox.wait_for(
        lambda: next((e for e in sandbox.ephemerals(user=AUDITOR) if "Audit:" in e.text), None)
    )
    # Why? on someone else's interaction: the auditor has no part in it.
    await auditor.click("Why?", in_=listing)
    trace = await sandbox.wait_for(
        lambda: next((v for v in sandbox.views if v.type == "modal" and v.user == AUDITOR), None)
    )
    assert "Sources read" in json.dumps(trace.blocks)
    await auditor.click("Export", in_=listing)
    dm = sandbox.workspace.open_im(AUDITOR).id
    files = await sandbox.wait_for(
        lambda: [f for f in sandbox.workspace.files.values() if dm in f.channels] or None
    )
    assert sorted(Path(f.name).suffix for f in files) == [".csv", ".jsonl"]

    await auditor.command("/steward", "pause incident drill", channel=GENERAL)
    await sandbox.wait_for(lambda: told(sandbox, AUDITOR, "Only Steward admins can pause AI"))
    assert await who.runtime.services.pause.state() is None

    await sandbox.user(EMPLOYEE).command("/steward", "request draft for the launch", channel=LAUNCH)
    ask = await sandbox.wait_for(lambda: admin_request(sandbox))
    await auditor.click("Approve", in_=ask)
    await sandbox.wait_for(lambda: told(sandbox, AUDITOR, "Only Steward admins can decide"))
    reasons = [(e.actor_id, e.reason) for e in await refusals(who)]
    assert reasons == [
        (AUDITOR, "/steward pause: admins only"),
        (AUDITOR, "/steward request approve: admins only"),
    ]
    assert await summary_outcome(sandbox, LAUNCH, DESIGNER) == "summary"  # not paused
