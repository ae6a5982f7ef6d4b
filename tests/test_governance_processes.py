"""Governance across real processes: the kill switch, and `steward policy check` / start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.governance.commands import run_pause, run_resume
from app.sandbox import Sandbox
from app.slack.reply import ReplyTo
from app.steward_command import StewardCommand
from tests.e2e import ADMIN, EMPLOYEE, GENERAL, running_stack
from tests.test_e2e_processes import ROOT, Processes, base_env

POLICY = """\
admins: [U0ADMIN]
use_cases:
  summarize:
    channels: ["*"]
"""


@pytest.fixture
def procs() -> Iterator[list[Processes]]:
    made: list[Processes] = []
    yield made
    for group in made:
        group.stop_all()


def outcomes(sandbox: Sandbox) -> list[str]:
    out = []
    for e in sandbox.ephemerals(user=EMPLOYEE):
        if "Share in thread" in json.dumps(e.blocks):
            out.append("summary")
        elif e.text.startswith(":double_vertical_bar:"):
            out.append(e.text)
    return out


@pytest.mark.slow
async def test_pause_from_one_process_stops_the_next_job_of_another_worker_process(
    redis_url: str, redis_sync: object, tmp_path: Path, procs: list[Processes]
) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    # This process serves Slack (no workers here); a separate `steward worker` runs every job.
    async with running_stack(redis_url, tmp_path, workers=0, steward_policy=policy) as stack:
        sandbox = stack.sandbox
        env = base_env(sandbox, redis_url, tmp_path) | {"STEWARD_POLICY": str(policy)}
        group = Processes(env, tmp_path)
        procs.append(group)
        group.start("worker", "--visibility-timeout", "2")
        employee = sandbox.user(EMPLOYEE)
        await employee.post(GENERAL, "We ship on Tuesday.")
        await employee.command("/summarize", "6h", channel=GENERAL)
        await sandbox.wait_for(lambda: outcomes(sandbox) == ["summary"], timeout=30)

        # The admin's pause runs here, in this process, through the real subcommand.
        services = stack.runtime.services
        command = StewardCommand(team_id="T0", user_id=ADMIN, sub="pause", text="incident 7")
        await run_pause(services, ReplyTo.of(command), command)
        await employee.command("/summarize", "6h", channel=GENERAL)
        paused = ":double_vertical_bar: AI paused by admins (incident 7)."
        await sandbox.wait_for(lambda: outcomes(sandbox) == ["summary", paused], timeout=30)

        resume = command.model_copy(update={"sub": "resume", "text": ""})
        await run_resume(services, ReplyTo.of(resume), resume)
        await employee.command("/summarize", "6h", channel=GENERAL)
        expected = ["summary", paused, "summary"]
        await sandbox.wait_for(lambda: outcomes(sandbox) == expected, timeout=30)
        names = [e.event async for e in services.audit.export()]
        assert names.count("paused") == 1 and names.count("resumed") == 1
        assert names.count("generated") == 2


THREE_MISTAKES = """\
admins: [U0ADMIN]
groups:
  managers: [U0MGR1]
use_cases:
  summarize:
    channels: ["general"]
  draft:
    approval:
      approvers: manager
      expire_after: 4 hours
"""


def steward(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=cwd,
        env=base | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_policy_check_reports_all_three_mistakes_with_line_numbers(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text(THREE_MISTAKES)
    result = steward("policy", "check", "bad.yml", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert lines == [
        "bad.yml: line 6: use_cases.summarize.channels[0]: 'general' is not a channel ID "
        "(like C0123ABCD) or name (like #launch)",
        "bad.yml: line 9: use_cases.draft.approval.approvers: unknown group 'manager' "
        "(did you mean 'managers'?)",
        "bad.yml: line 10: use_cases.draft.approval.expire_after: invalid duration '4 hours': "
        "use a number and a unit, e.g. '90s', '30m', '4h', '2d', '1w' or '1h30m'",
    ]
    assert "3 problem(s)" in result.stderr


def test_policy_check_of_a_good_file_and_of_the_defaults(tmp_path: Path) -> None:
    good = "use_cases:\n  summarize: {}\n  draft: {}\nchannels:\n  C0PUBLIC:\n    draft: {}\n"
    (tmp_path / "policy.yml").write_text(good)
    result = steward("policy", "check", cwd=tmp_path)  # ./policy.yml is the default
    assert (result.returncode, result.stdout) == (0, "ok: 2 use cases, 1 channel overrides\n")
    nowhere = tmp_path / "empty"
    nowhere.mkdir()
    result = steward("policy", "check", cwd=nowhere)
    assert result.returncode == 0
    assert "no policy file" in result.stderr and "built-in" in result.stderr
    result = steward("policy", "check", cwd=nowhere, env={"STEWARD_POLICY": "missing.yml"})
    assert result.returncode == 1
    assert "cannot read missing.yml" in result.stdout


def test_a_bad_policy_at_start_exits_2_naming_the_lines(redis_url: str, tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text(THREE_MISTAKES)
    env = {"SLACK_BOT_TOKEN": "xoxb-x", "STEWARD_POLICY": "bad.yml", "REDIS_URL": redis_url}
    result = steward("worker", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "STEWARD_POLICY is invalid" in result.stderr
    for line in ("line 6: ", "line 9: ", "line 10: "):
        assert line in result.stderr
