"""Checkpoints published to the policy's audit channel, through the strict Slack sandbox, and
read back from the channel's history by `verify`: Slack keeps a copy the deployment cannot
rewrite, so even a wiped store and a deleted checkpoint file are caught."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis

from app.audit.checkpoints import Checkpointer
from app.audit.cli_attest import verify_published
from app.audit.log import AuditLog
from app.audit.published import MARK, CheckpointFile, read_channel
from app.governance.policy import load_policy_text
from app.runtime.settings import load_settings
from app.sandbox import Sandbox, seed_demo_workspace
from app.sandbox.seed import PRIVATE_NOT_INVITED
from app.slack.port import SlackPort, web_client

AUDIT = "C0AUDITLOG"


async def test_a_checkpoint_goes_to_the_channel_and_verify_reads_it_back(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    async with Sandbox(signing_secret="s") as sandbox:
        seed_demo_workspace(sandbox.workspace)
        sandbox.workspace.add_channel(AUDIT, "audit-log", members=["U0ADMIN"])
        slack = SlackPort(web_client(sandbox.bot_token, sandbox.api_url))
        policy = load_policy_text(f"admins: [U0ADMIN]\naudit: {{checkpoint_channel: {AUDIT}}}\n")
        settings = load_settings(steward_data_dir=tmp_path)
        signer = Checkpointer(r, settings, policy=lambda: policy, slack=slack)
        log = AuditLog(r)
        for k in range(7):
            await log.record(interaction_id=f"i{k}", event="requested")
        result = await signer.publish_now()
        assert result.checkpoint is not None and result.problems == []
        assert result.published[1].startswith(f"slack {AUDIT} ")
        (message,) = sandbox.messages(AUDIT)
        assert MARK in message.text and "Audit checkpoint: 7 events" in message.text
        (from_slack,) = await read_channel(slack, AUDIT)
        assert from_slack.checkpoint == result.checkpoint

        public = signer.signing_key().public_key()
        chain, report = await verify_published(log, await read_channel(slack, AUDIT), public)
        assert chain.ok and report.ok and report.latest == from_slack

        # The operator wipes Redis and deletes the checkpoint file: Slack still remembers.
        await r.delete(*[k async for k in r.scan_iter(match="steward:audit*")])
        CheckpointFile(settings.checkpoint_file).path.unlink()
        chain, report = await verify_published(log, await read_channel(slack, AUDIT), public)
        assert not report.ok
        assert report.problems[0].startswith("wiped: the store holds no audit events")
        assert f"slack {AUDIT}" in report.problems[0]
        await slack.close()


async def test_a_channel_steward_cannot_post_in_is_a_problem_not_a_lost_checkpoint(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    async with Sandbox(signing_secret="s") as sandbox:
        seed_demo_workspace(sandbox.workspace)
        slack = SlackPort(web_client(sandbox.bot_token, sandbox.api_url))
        text = f"admins: [U0ADMIN]\naudit: {{checkpoint_channel: {PRIVATE_NOT_INVITED}}}\n"
        policy = load_policy_text(text)
        signer = Checkpointer(
            r, load_settings(steward_data_dir=tmp_path), policy=lambda: policy, slack=slack
        )
        await AuditLog(r).record(interaction_id="i", event="requested")
        result = await signer.publish_now()
        assert result.checkpoint is not None
        assert len(result.published) == 1  # the file has it
        (problem,) = result.problems
        assert problem.startswith(f"slack {PRIVATE_NOT_INVITED}: ")
        assert sandbox.messages(PRIVATE_NOT_INVITED) == []
        await slack.close()


def test_the_policy_takes_an_audit_channel_id_and_names_mistakes_by_line() -> None:
    from app.governance.policy import check_policy_text

    assert load_policy_text("audit:\n  checkpoint_channel: C0AUDIT\n").audit.checkpoint_channel
    problems = check_policy_text("audit:\n  checkpoint_channel: 'audit'\n  sink: x\n")
    assert [(p.line, p.path) for p in problems] == [
        (2, "audit.checkpoint_channel"),
        (3, "audit.sink"),
    ]
