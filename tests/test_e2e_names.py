"""Names instead of IDs in the policy (issue 14): `#launch`, `@priya.raman`, `@legal-team`.

Black box: signed HTTP into the running app, the strict sandbox as Slack (its
`conversations.list`, `users.list` and `usergroups.list` say what the names are), a real Redis;
the CLI tools (`steward policy check --resolve`, `steward ids`) run as subprocesses against the
same sandbox, as an operator would run them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.governance.watch import PolicyWatcher
from app.sandbox import Sandbox, seed_demo_workspace
from tests.e2e import ADMIN, GENERAL, LAUNCH, SECRET, Stack, running_stack
from tests.test_e2e_governance import events, summary_outcome, told

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = "C0PUBLIC"  # #announcements in the seeded workspace
DESIGNER = "U0DES"  # @aiko.tanaka

POLICY = """\
admins: ["@sam.okafor"]
groups:
  legal: ["@legal-team"]
use_cases:
  summarize:
    channels: ["#launch"]
    deny_users: ["@aiko.tanaka"]
"""


@pytest.fixture
async def named(redis_url: str, redis_sync: object, tmp_path: Path) -> AsyncIterator[Stack]:
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    async with running_stack(redis_url, tmp_path, steward_policy=policy) as stack:
        for channel in (LAUNCH, GENERAL, PUBLIC):
            stack.sandbox.workspace.channels[channel].members.add(DESIGNER)
        yield stack


def reload(stack: Stack, path: Path) -> PolicyWatcher:
    return PolicyWatcher(stack.runtime.services, path)


async def test_a_channel_name_resolves_to_its_id(named: Stack) -> None:
    sandbox = named.sandbox
    assert await summary_outcome(sandbox, LAUNCH) == "summary"
    assert "not enabled in this channel" in await summary_outcome(sandbox, GENERAL)
    # Resolved once, through the method Slack publishes for it, asking for private channels too.
    [listed] = sandbox.calls("conversations.list")
    assert listed.args["types"] == "public_channel,private_channel"
    generated = (await events(named, "generated"))[0]
    assert generated.rule == f"use_cases.summarize (channels: {LAUNCH})"
    assert named.runtime.services.policy.use_cases["summarize"].channels == [LAUNCH]
    assert len(sandbox.calls("conversations.list")) == 1  # cached, not asked per request


async def test_people_names_resolve_to_users_and_a_handle_stays_a_group(named: Stack) -> None:
    sandbox = named.sandbox
    refused = await summary_outcome(sandbox, LAUNCH, DESIGNER)
    assert "use_cases.summarize.deny_users" in refused
    policy = named.runtime.services.policy
    assert policy.admins == [ADMIN]
    assert policy.use_cases["summarize"].deny_users == [DESIGNER]
    assert policy.groups["legal"] == ["@legal-team"]  # members still looked up per request
    # The admin named by @name may pause.
    await sandbox.user(ADMIN).command("/steward", "pause drill", channel=GENERAL)
    await sandbox.wait_for(lambda: told(sandbox, ADMIN, "AI is paused for everyone"))
    assert await named.runtime.services.pause.state() is not None


async def test_slack_not_answering_for_the_names_is_a_clear_refusal_then_served(
    named: Stack,
) -> None:
    sandbox = named.sandbox
    sandbox.faults.add("conversations.list", "error", error="service_unavailable", times=None)
    refused = await summary_outcome(sandbox, LAUNCH)
    assert "Slack did not say what the policy's channel and people names are" in refused
    assert [e.rule for e in await events(named, "refused")] == [
        "policy names: Slack unavailable (service_unavailable)"
    ]
    assert named.runtime.services.policy.names  # nothing was guessed
    sandbox.faults.clear()  # Slack is back: the failure was not cached
    assert await summary_outcome(sandbox, LAUNCH) == "summary"


async def test_an_unknown_name_at_reload_is_refused_with_its_line(
    named: Stack, tmp_path: Path
) -> None:
    sandbox = named.sandbox
    assert await summary_outcome(sandbox, LAUNCH) == "summary"
    path = tmp_path / "policy.yml"
    path.write_text(POLICY.replace('channels: ["#launch"]', 'channels: ["#launch", "#nope"]'))
    assert await reload(named, path).check_once() == "invalid"
    dm = await sandbox.wait_for(lambda: told(sandbox, ADMIN, "was *not* applied"))
    assert "line 6: use_cases.summarize.channels[1]: '#nope' is not a channel" in dm[0]
    # The running policy stays.
    assert await summary_outcome(sandbox, LAUNCH) == "summary"
    assert named.runtime.services.policy.use_cases["summarize"].channels == [LAUNCH]
    assert not await events(named, "policy_changed")


async def test_a_channel_renamed_in_slack_is_picked_up_on_reload(
    named: Stack, tmp_path: Path
) -> None:
    sandbox = named.sandbox
    assert await summary_outcome(sandbox, LAUNCH) == "summary"
    channels = sandbox.workspace.channels
    channels[LAUNCH].name = "launch-2025"
    channels[PUBLIC].name = "launch"
    # Still the ID resolved at load: a rename is not a policy change until the next version.
    assert await summary_outcome(sandbox, LAUNCH) == "summary"
    path = tmp_path / "policy.yml"
    path.write_text(POLICY + "# renamed in Slack\n")  # a new version, comments only
    assert await reload(named, path).check_once() == "reloaded"
    assert await summary_outcome(sandbox, PUBLIC) == "summary"
    assert "not enabled in this channel" in await summary_outcome(sandbox, LAUNCH)


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------


def cli(sandbox: Sandbox, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "STEWARD_"))}
    env |= {
        "PYTHONPATH": str(ROOT),
        "SLACK_BOT_TOKEN": sandbox.bot_token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": sandbox.api_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_policy_check_resolve_reports_unknown_names_with_lines(tmp_path: Path) -> None:
    bad = POLICY.replace('"@legal-team"', '"@legal-teem"').replace("#launch", "#nope")
    (tmp_path / "bad.yml").write_text(bad)
    (tmp_path / "good.yml").write_text(POLICY)
    async with Sandbox(signing_secret=SECRET) as sandbox:
        seed_demo_workspace(sandbox.workspace)
        unresolved = await asyncio.to_thread(cli, sandbox, tmp_path, "policy", "check", "bad.yml")
        failed = await asyncio.to_thread(
            cli, sandbox, tmp_path, "policy", "check", "--resolve", "bad.yml"
        )
        passed = await asyncio.to_thread(
            cli, sandbox, tmp_path, "policy", "check", "--resolve", "good.yml"
        )
    # Without --resolve the names are only checked for form, and the output says so.
    assert unresolved.returncode == 0
    assert "not looked up in Slack" in unresolved.stdout
    assert failed.returncode == 1, failed.stderr
    assert failed.stdout.splitlines() == [
        "bad.yml: line 3: groups.legal[0]: '@legal-teem' is neither a user group handle "
        "nor a person here",
        "bad.yml: line 6: use_cases.summarize.channels[0]: '#nope' is not a channel Steward can "
        "see in this workspace (a private channel must have Steward in it); `steward ids` lists "
        "the names it knows",
    ]
    assert "2 problem(s)" in failed.stderr
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert passed.stdout.startswith("ok: 1 use cases, 0 channel overrides, 4 names")


async def test_steward_ids_prints_the_ids(tmp_path: Path) -> None:
    async with Sandbox(signing_secret=SECRET) as sandbox:
        seed_demo_workspace(sandbox.workspace)
        sandbox.workspace.add_channel("C0SECRET", "secret-plans", private=True)
        sandbox.workspace.add_channel("C0HIDDEN", "hidden", private=True, bot_member=False)
        found = await asyncio.to_thread(
            cli, sandbox, tmp_path, "ids", "#launch", "@legal-team", "@priya.raman", "#secret-plans"
        )
        missing = await asyncio.to_thread(cli, sandbox, tmp_path, "ids", "#hidden", "#general")
        everything = await asyncio.to_thread(cli, sandbox, tmp_path, "ids")
    assert found.returncode == 0, found.stderr
    assert found.stdout.splitlines() == [
        "C0LAUNCH\t#launch",
        "S0LEGAL\t@legal-team",
        "U0EMP\t@priya.raman",
        "C0SECRET\t#secret-plans",
    ]
    # A private channel Steward is not in is invisible to it, as to Slack's API.
    assert missing.returncode == 1
    assert missing.stdout.splitlines() == ["C0GENERAL\t#general"]
    assert "'#hidden' is not a channel Steward can see" in missing.stderr
    rows = everything.stdout.splitlines()
    assert "C0GENERAL\t#general" in rows and "U0ADMIN\t@sam.okafor" in rows
    assert "S0MANAGERS\t@managers" in rows
    assert not any("hidden" in row for row in rows)
