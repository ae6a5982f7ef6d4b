"""Governance end to end: policy per channel, use-case requests, budgets, pause, hot reload."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.audit.event import AuditEvent
from app.governance.requests import UseCaseDecision, run_decision
from app.governance.watch import PolicyWatcher
from app.runtime.process import Runtime
from app.sandbox import Sandbox
from app.sandbox.blockkit import button_labels
from app.sandbox.openai_compat import ModelServer
from app.sandbox.records import Message
from tests.e2e import (
    ADMIN,
    EMPLOYEE,
    GENERAL,
    LAUNCH,
    LEADERSHIP,
    MANAGER,
    Stack,
    model_settings,
    quick_queue,
    running_stack,
)

POLICY = """\
admins: [U0ADMIN]
groups:
  managers: [U0MGR1, U0MGR2]
  legal: ["@legal-team"]
use_cases:
  summarize:
    channels: [C0GENERAL]
    deny_channels: [C0LEADERSHIP]
  draft:
    channels: ["*"]
    approval: {required: true, approvers: managers, escalate_after: 4h, escalate_to: legal}
"""

SUMMARY = "Share in thread"  # only a finished summary carries this button


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yml"
    path.write_text(POLICY)
    return path


@pytest.fixture
async def gov(
    redis_url: str, redis_sync: object, tmp_path: Path, policy_file: Path
) -> AsyncIterator[Stack]:
    async with running_stack(redis_url, tmp_path, steward_policy=policy_file) as stack:
        yield stack


async def events(stack: Stack, name: str | None = None) -> list[AuditEvent]:
    found = [e async for e in stack.runtime.services.audit.export()]
    return [e for e in found if name is None or e.event == name]


def told(sandbox: Sandbox, user: str, needle: str) -> list[str]:
    """Private answers to `user` (ephemerals and DMs) containing `needle`."""
    texts = [
        e.text + json.dumps(e.blocks, ensure_ascii=False) for e in sandbox.ephemerals(user=user)
    ]
    dm = sandbox.workspace.open_im(user).id
    texts += [m.text + json.dumps(m.blocks, ensure_ascii=False) for m in sandbox.messages(dm)]
    return [t for t in texts if needle in t]


async def summarize_in(sandbox: Sandbox, channel: str, user: str = EMPLOYEE) -> None:
    """Post a little conversation in `channel` and ask for its summary there."""
    person = sandbox.user(user)
    for text in ("We ship on Tuesday.", "Changelog is updated.", "Great, thanks!"):
        await person.post(channel, text)
    delivery = await person.command("/summarize", "6h", channel=channel)
    assert delivery.status == 200


async def summary_outcome(sandbox: Sandbox, channel: str, user: str = EMPLOYEE) -> str:
    """Summarise in `channel` and wait for the outcome: the summary or the refusal's text."""
    before = len(sandbox.ephemerals(user=user))
    await summarize_in(sandbox, channel, user)

    def outcome() -> str | None:
        for e in sandbox.ephemerals(user=user)[before:]:
            if SUMMARY in json.dumps(e.blocks):
                return "summary"
            if e.text.startswith((":no_entry:", ":double_vertical_bar:")):
                return e.text
        return None

    return await sandbox.wait_for(outcome, timeout=20)


def admin_request(sandbox: Sandbox) -> Message | None:
    """The latest use-case request in the admin's DM, if any."""
    dm = sandbox.workspace.open_im(ADMIN).id
    asks = [m for m in sandbox.messages(dm) if "AI use-case request" in m.text]
    return asks[-1] if asks else None


def request_shown(sandbox: Sandbox) -> Message:
    shown = admin_request(sandbox)
    assert shown is not None, "no use-case request in the admin's DMs"
    return shown


# ---------------------------------------------------------------------------------------------
# Policy per channel
# ---------------------------------------------------------------------------------------------


async def test_use_case_off_in_a_channel_is_refused_there_and_works_elsewhere(gov: Stack) -> None:
    sandbox = gov.sandbox
    refused = await summary_outcome(sandbox, LAUNCH)
    assert "not enabled in this channel" in refused
    assert "/steward request summarize" in refused
    assert await summary_outcome(sandbox, GENERAL) == "summary"
    sandbox.workspace.channels[LEADERSHIP].members.add(EMPLOYEE)
    assert "turned off in this channel" in await summary_outcome(sandbox, LEADERSHIP)
    rules = [(e.channel_id, e.reason, e.rule) for e in await events(gov, "refused")]
    assert rules == [
        (LAUNCH, "policy", "use_cases.summarize.channels"),
        (LEADERSHIP, "policy", "use_cases.summarize.deny_channels"),
    ]
    generated = await events(gov, "generated")
    assert [e.channel_id for e in generated] == [GENERAL]


async def test_policy_command_shows_what_is_on_who_approves_and_budget_left(gov: Stack) -> None:
    sandbox = gov.sandbox
    await sandbox.user(EMPLOYEE).command("/steward", "policy", channel=LAUNCH)
    view = (await sandbox.wait_for(lambda: told(sandbox, EMPLOYEE, "AI policy")))[0]
    assert "*summarize* — off (rule `use_cases.summarize.channels`)" in view
    assert "/steward request summarize" in view
    assert "*draft* — on (rule `use_cases.draft (channels: *)`)" in view
    # Approvers resolved: the group's people, and the @legal-team handle expanded.
    assert "managers (<@U0MGR1>, <@U0MGR2>)" in view
    assert "then legal (<@U0LEGAL>) after 4h" in view
    assert "your tokens today: 200,000 of 200,000" in view
    assert "your requests this minute: 10 of 10" in view
    assert "Revoke" not in view


# ---------------------------------------------------------------------------------------------
# Use-case requests
# ---------------------------------------------------------------------------------------------


async def test_request_approved_by_an_admin_enables_the_use_case_there(gov: Stack) -> None:
    sandbox = gov.sandbox
    await sandbox.user(EMPLOYEE).command(
        "/steward", "request summarize for the launch retro", channel=LAUNCH
    )
    await sandbox.wait_for(lambda: told(sandbox, EMPLOYEE, "Asked the admins"))
    ask = await sandbox.wait_for(lambda: admin_request(sandbox))
    assert "for the launch retro" in json.dumps(ask.blocks)

    # A non-admin clicking Approve is refused on the server, and that is audited.
    await sandbox.user(MANAGER).click("Approve", in_=ask)
    await sandbox.wait_for(lambda: told(sandbox, MANAGER, "Only Steward admins"))
    refusal = (await events(gov, "refused"))[-1]
    assert (refusal.actor_id, refusal.use_case) == (MANAGER, "summarize")
    assert refusal.reason == "/steward request approve: admins only"
    assert "not enabled" in await summary_outcome(sandbox, LAUNCH)

    await sandbox.user(ADMIN).click("Approve", in_=admin_request(sandbox))
    await sandbox.wait_for(lambda: told(sandbox, EMPLOYEE, "approved your request"))
    assert "Approved by <@U0ADMIN>" in json.dumps(request_shown(sandbox).blocks)
    assert button_labels(request_shown(sandbox).blocks) == []
    assert await summary_outcome(sandbox, LAUNCH) == "summary"

    requested = (await events(gov, "use_case_requested"))[0]
    granted = (await events(gov, "use_case_granted"))[0]
    assert requested.interaction_id == granted.interaction_id
    assert (requested.actor_id, requested.channel_id, requested.use_case) == (
        EMPLOYEE,
        LAUNCH,
        "summarize",
    )
    assert requested.extra["purpose"] == "for the launch retro"
    assert (granted.approver_id, granted.approval_status) == (ADMIN, "approved")
    generated = (await events(gov, "generated"))[-1]
    used = [
        e.rule
        for e in await events(gov, "requested")
        if e.interaction_id == generated.interaction_id
    ]
    assert used == [f"granted request {granted.interaction_id}"]


async def test_grants_are_listed_by_policy_and_revocable_by_admins(gov: Stack) -> None:
    sandbox = gov.sandbox
    await sandbox.user(EMPLOYEE).command(
        "/steward", "request summarize weekly recap", channel=LAUNCH
    )
    await sandbox.user(ADMIN).click(
        "Approve", in_=await sandbox.wait_for(lambda: admin_request(sandbox))
    )
    await sandbox.wait_for(lambda: told(sandbox, EMPLOYEE, "approved your request"))

    await sandbox.user(EMPLOYEE).command("/steward", "policy", channel=LAUNCH)
    view = (await sandbox.wait_for(lambda: told(sandbox, EMPLOYEE, "Granted here by request")))[0]
    assert "*summarize* — granted by <@U0ADMIN>" in view and "weekly recap" in view
    assert "Revoke" not in view  # not an admin

    await sandbox.user(ADMIN).command("/steward", "policy", channel=LAUNCH)
    await sandbox.wait_for(lambda: told(sandbox, ADMIN, "Granted here by request"))
    shown = [e for e in sandbox.ephemerals(user=ADMIN) if "Revoke" in json.dumps(e.blocks)][-1]
    await sandbox.user(ADMIN).click("Revoke", in_=shown)
    await sandbox.wait_for(lambda: told(sandbox, ADMIN, "Revoked"))
    assert "not enabled" in await summary_outcome(sandbox, LAUNCH)
    change = (await events(gov, "policy_changed"))[-1]
    assert change.extra["source"] == "grant" and change.actor_id == ADMIN
    assert change.reason == f"grant revoked: summarize in {LAUNCH}"


async def test_request_rejected(gov: Stack) -> None:
    sandbox = gov.sandbox
    await sandbox.user(EMPLOYEE).command("/steward", "request summarize please", channel=LAUNCH)
    await sandbox.user(ADMIN).click(
        "Reject", in_=await sandbox.wait_for(lambda: admin_request(sandbox))
    )
    await sandbox.wait_for(lambda: told(sandbox, EMPLOYEE, "did not approve"))
    rejected = (await events(gov, "rejected"))[0]
    assert (rejected.approver_id, rejected.approval_status, rejected.use_case) == (
        ADMIN,
        "rejected",
        "summarize",
    )
    assert await events(gov, "use_case_granted") == []
    assert "Rejected by <@U0ADMIN>" in json.dumps(request_shown(sandbox).blocks)
    # A late click on a stale copy does not change the outcome: the first decision wins.
    late = UseCaseDecision(
        request_id=rejected.interaction_id, verdict="approved", user_id=ADMIN, team_id="T0"
    )
    await run_decision(gov.runtime.services, late)
    await sandbox.wait_for(lambda: told(sandbox, ADMIN, "already rejected by <@U0ADMIN>"))
    assert await events(gov, "use_case_granted") == []
    assert "not enabled" in await summary_outcome(sandbox, LAUNCH)


@pytest.mark.parametrize(
    ("text", "channel", "answer"),
    [
        ("request", LAUNCH, "Usage: `/steward request <use-case> [@user-group | --group <group>]"),
        ("request summarize", LAUNCH, "Please say what you need *summarize* for"),
        ("request translate to translate", LAUNCH, "*translate* is not a use case"),
        ("request summarize again", GENERAL, "*summarize* is already on"),
        ("request summarize secrets", LEADERSHIP, "turned off in <#C0LEADERSHIP> on purpose"),
    ],
)
async def test_requests_that_cannot_be_made_are_explained(
    gov: Stack, text: str, channel: str, answer: str
) -> None:
    sandbox = gov.sandbox
    sandbox.workspace.channels[LEADERSHIP].members.add(EMPLOYEE)
    await sandbox.user(EMPLOYEE).command("/steward", text, channel=channel)
    await sandbox.wait_for(lambda: told(sandbox, EMPLOYEE, answer))
    assert await events(gov, "use_case_requested") == []


async def test_a_second_request_for_the_same_thing_does_not_spam_the_admins(gov: Stack) -> None:
    sandbox = gov.sandbox
    await sandbox.user(EMPLOYEE).command("/steward", "request summarize one", channel=LAUNCH)
    await sandbox.wait_for(lambda: admin_request(sandbox))
    await sandbox.user(MANAGER).command("/steward", "request summarize two", channel=LAUNCH)
    await sandbox.wait_for(lambda: told(sandbox, MANAGER, "already waiting"))
    dm = sandbox.workspace.open_im(ADMIN).id
    assert len([m for m in sandbox.messages(dm) if "AI use-case request" in m.text]) == 1


# ---------------------------------------------------------------------------------------------
# Budgets
# ---------------------------------------------------------------------------------------------

TINY_BUDGET = POLICY.replace(
    "use_cases:", "defaults:\n  budget: {user_daily_tokens: 500}\nuse_cases:"
)


async def test_budget_exceeded_is_refused_with_the_reset_time(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    policy = tmp_path / "tiny.yml"
    policy.write_text(TINY_BUDGET)
    async with (
        ModelServer() as model,
        running_stack(
            redis_url, tmp_path, steward_policy=policy, **model_settings(model.url)
        ) as stack,
    ):
        answer = await summary_outcome(stack.sandbox, GENERAL)
        assert "only 500 of your daily AI budget of 500 are left" in answer
        assert "It resets at 00:00:00 UTC" in answer
        assert model.requests == []
        refused = (await events(stack, "refused"))[-1]
        assert refused.reason == "user_daily_tokens"


# ---------------------------------------------------------------------------------------------
# Pause
# ---------------------------------------------------------------------------------------------


async def test_pause_and_resume_by_an_admin(gov: Stack) -> None:
    sandbox = gov.sandbox
    await sandbox.user(EMPLOYEE).command("/steward", "pause", channel=GENERAL)
    await sandbox.wait_for(lambda: told(sandbox, EMPLOYEE, "Only Steward admins can pause"))
    assert (await events(gov, "refused"))[-1].reason == "/steward pause: admins only"

    await sandbox.user(ADMIN).command("/steward", "pause incident 42", channel=GENERAL)
    await sandbox.wait_for(lambda: told(sandbox, ADMIN, "AI is paused for everyone"))
    answer = await summary_outcome(sandbox, GENERAL)
    assert answer == ":double_vertical_bar: AI paused by admins (incident 42)."
    await sandbox.user(EMPLOYEE).command("/steward", "policy", channel=GENERAL)
    await sandbox.wait_for(lambda: told(sandbox, EMPLOYEE, "AI is paused by <@U0ADMIN>"))

    await sandbox.user(ADMIN).command("/steward", "resume", channel=GENERAL)
    await sandbox.wait_for(lambda: told(sandbox, ADMIN, "AI is running again"))
    assert await summary_outcome(sandbox, GENERAL) == "summary"
    paused, resumed = (await events(gov, "paused"))[0], (await events(gov, "resumed"))[0]
    assert (paused.actor_id, paused.reason) == (ADMIN, "incident 42")
    assert resumed.actor_id == ADMIN
    assert (await events(gov, "refused"))[-1].reason == "paused"


# ---------------------------------------------------------------------------------------------
# Hot reload
# ---------------------------------------------------------------------------------------------

EVERYWHERE = POLICY.replace("channels: [C0GENERAL]", 'channels: ["*"]')
BROKEN = POLICY.replace("approvers: managers", "approvers: manager")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
async def second_process(gov: Stack, redis_url: str) -> AsyncIterator[Runtime]:
    """A second runtime on the same Redis and policy file: another process, as far as the
    shared state is concerned. Its watcher is driven by hand (check_once) so the test can say
    exactly when it has seen a change."""
    runtime = Runtime(gov.runtime.settings, redis_url, quick_queue())
    yield runtime
    await runtime.close()


async def test_editing_the_policy_file_changes_behaviour_and_is_recorded_once(
    gov: Stack, second_process: Runtime, policy_file: Path
) -> None:
    sandbox = gov.sandbox
    other = PolicyWatcher(second_process.services, policy_file)
    assert "not enabled" in await summary_outcome(sandbox, LAUNCH)

    policy_file.write_text(EVERYWHERE)
    await sandbox.wait_for(lambda: gov.runtime.services.policy.source_hash == sha(EVERYWHERE))
    assert await summary_outcome(sandbox, LAUNCH) == "summary"
    assert await other.check_once() == "reloaded"
    assert second_process.services.policy.source_hash == sha(EVERYWHERE)

    changes = await events(gov, "policy_changed")
    assert len(changes) == 1  # two processes saw the edit; one event
    assert changes[0].extra["hash"] == sha(EVERYWHERE)
    assert changes[0].extra["previous_hash"] == sha(POLICY)
    assert changes[0].extra["diff"] == ["use_cases.summarize.channels: C0GENERAL → *"]
    assert "use_cases.summarize.channels: C0GENERAL → *" in (changes[0].reason or "")


async def test_a_bad_edit_keeps_the_running_policy_and_tells_the_admins_once(
    gov: Stack, second_process: Runtime, policy_file: Path
) -> None:
    sandbox = gov.sandbox
    other = PolicyWatcher(second_process.services, policy_file)
    policy_file.write_text(BROKEN)
    line = "line 11: use_cases.draft.approval.approvers: unknown group 'manager'"
    dm = (await sandbox.wait_for(lambda: told(sandbox, ADMIN, "was *not* applied")))[0]
    assert line in dm and "(did you mean 'managers'?)" in dm
    assert await other.check_once() == "invalid"
    assert len(told(sandbox, ADMIN, "was *not* applied")) == 1  # once, not once per process
    assert gov.runtime.services.policy.source_hash == sha(POLICY)
    assert second_process.services.policy.source_hash == sha(POLICY)
    assert await summary_outcome(sandbox, GENERAL) == "summary"
    assert await events(gov, "policy_changed") == []

    # Fixing the file applies the fix (and that is the one recorded change).
    policy_file.write_text(EVERYWHERE)
    await sandbox.wait_for(lambda: gov.runtime.services.policy.source_hash == sha(EVERYWHERE))
    assert len(await events(gov, "policy_changed")) == 1


async def test_a_model_the_deployment_may_not_use_is_refused_at_reload(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(POLICY)
    async with (
        ModelServer() as model,
        running_stack(
            redis_url, tmp_path, steward_policy=path, **model_settings(model.url)
        ) as stack,
    ):
        # Valid as a file, but no model is named, so OPENAI_MODEL ("test-model") would be the
        # one called, and it is not on the list.
        allow = "defaults: {allowed_models: [gpt-4o-mini]}\nadmins:"
        path.write_text(POLICY.replace("admins:", allow))
        dm = (await stack.sandbox.wait_for(lambda: told(stack.sandbox, ADMIN, "not* applied")))[0]
        assert "OPENAI_MODEL 'test-model'" in dm
        assert stack.runtime.services.policy.source_hash == sha(POLICY)
