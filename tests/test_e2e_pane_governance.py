"""The same governance in the agent pane as with commands: a refused use case, a private channel
the person is not in, paused AI and an exhausted budget get the same answers and the same audit
events, and the pane offers no prompt that policy refuses. Signed events into serve, the strict
sandbox, real Redis, the loopback model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.sandbox.openai_compat import ModelServer
from app.sandbox.pane import PaneSide
from tests.e2e import (
    ADMIN,
    EMPLOYEE,
    GENERAL,
    LAUNCH,
    LEADERSHIP,
    Stack,
    model_settings,
    running_stack,
)

POLICY = """\
admins: [U0ADMIN]
groups:
  managers: [U0MGR1, U0MGR2]
use_cases:
  summarize:
    channels: ["*"]
    deny_channels: [C0GENERAL]
  draft:
    channels: [C0LAUNCH]
    approval: {required: true, approvers: managers}
"""
TINY_BUDGET = POLICY.replace(
    "use_cases:", "defaults:\n  budget: {user_daily_tokens: 500}\nuse_cases:"
)


async def stack_with(
    redis_url: str, tmp_path: Path, model: ModelServer, policy: str
) -> AsyncIterator[Stack]:
    path = tmp_path / "policy.yml"
    path.write_text(policy)
    async with running_stack(
        redis_url, tmp_path, steward_policy=path, **model_settings(model.url)
    ) as stack:
        for channel in (GENERAL, LAUNCH):
            stack.sandbox.workspace.add_message(channel, "We ship on Tuesday.", user="U0ENG")
        yield stack


@pytest.fixture
async def gov(
    redis_url: str, redis_sync: object, tmp_path: Path, model: ModelServer
) -> AsyncIterator[Stack]:
    async for stack in stack_with(redis_url, tmp_path, model, POLICY):
        yield stack


async def refusals(stack: Stack) -> list[Any]:
    return [e async for e in stack.runtime.services.audit.export() if e.event == "refused"]


async def opened(stack: Stack, pane: PaneSide, view: str) -> None:
    """Open the pane beside `view` and wait until Steward knows what is in view."""
    await pane.open(viewing=view)
    name = stack.sandbox.workspace.channels[view].name
    await stack.sandbox.wait_for(lambda: any(f"#{name}" in t for t in pane.prompts()))


async def pane_answer(stack: Stack, pane: PaneSide, text: str) -> str:
    asked = (await pane.type(text)).message
    [reply] = await stack.sandbox.wait_for(lambda: pane.replies(asked.ts))
    return reply.text


async def command_answer(stack: Stack, text: str, channel: str) -> str:
    sandbox = stack.sandbox
    before = len(sandbox.ephemerals(user=EMPLOYEE))
    await sandbox.user(EMPLOYEE).command("/summarize", text, channel=channel)
    found = await sandbox.wait_for(
        lambda: [
            e
            for e in sandbox.ephemerals(user=EMPLOYEE)[before:]
            if not e.text.startswith(":hourglass")  # the progress note comes first
        ]
    )
    return found[-1].text


async def same_refusal(
    stack: Stack, *, view: str, said: str, command: str, in_channel: str
) -> tuple[str, list[str]]:
    """The pane's answer and the command's, which must be the same, and the refusal reasons."""
    pane = stack.sandbox.user(EMPLOYEE).pane
    await opened(stack, pane, view)
    in_pane = await pane_answer(stack, pane, said)
    by_command = await command_answer(stack, command, in_channel)
    assert in_pane == by_command
    return in_pane, [e.reason for e in await refusals(stack)]


async def test_a_refused_use_case(gov: Stack, model: ModelServer) -> None:
    answer, reasons = await same_refusal(
        gov, view=GENERAL, said="summarise this channel", command="", in_channel=GENERAL
    )
    assert answer == ":no_entry: 'summarize' is turned off in this channel by policy."
    assert reasons == ["policy", "policy"]
    assert model.requests == []


async def test_a_private_channel_the_person_is_not_in(gov: Stack, model: ModelServer) -> None:
    answer, reasons = await same_refusal(
        gov,
        view=LAUNCH,
        said=f"summarise <#{LEADERSHIP}|leadership>",
        command=f"<#{LEADERSHIP}|leadership>",
        in_channel=LAUNCH,
    )
    assert "private conversations you are a member" in answer
    assert reasons == ["not_a_member", "not_a_member"]
    assert model.requests == []


async def test_paused_ai(gov: Stack, model: ModelServer) -> None:
    await gov.runtime.services.pause.pause(ADMIN, "incident 42")
    answer, reasons = await same_refusal(
        gov, view=LAUNCH, said="summarise this channel", command="", in_channel=LAUNCH
    )
    assert answer == ":double_vertical_bar: AI paused by admins (incident 42)."
    assert reasons == ["paused", "paused"]
    assert model.requests == []


async def test_an_exhausted_budget(
    redis_url: str, redis_sync: object, tmp_path: Path, model: ModelServer
) -> None:
    async for stack in stack_with(redis_url, tmp_path, model, TINY_BUDGET):
        answer, reasons = await same_refusal(
            stack, view=LAUNCH, said="summarise this channel", command="", in_channel=LAUNCH
        )
        assert "only 500 of your daily AI budget of 500 are left" in answer
        assert reasons == ["user_daily_tokens", "user_daily_tokens"]
        assert model.requests == []


async def test_prompts_offer_nothing_policy_refuses(gov: Stack) -> None:
    sandbox = gov.sandbox
    pane = sandbox.user(EMPLOYEE).pane
    await pane.open(viewing=GENERAL)  # summaries denied, drafts not on here
    await sandbox.wait_for(lambda: any("#general" in t for t in pane.prompts()))
    assert pane.prompts() == ["What may AI do in #general?"]
    await pane.view(LAUNCH)
    await sandbox.wait_for(lambda: any("#launch" in t for t in pane.prompts()))
    assert pane.prompts() == [
        "Summarise #launch since yesterday",
        "Draft a reply",
        "What may AI do in #launch?",
    ]
    await gov.runtime.services.pause.pause(ADMIN, "incident 42")
    await pane.view(GENERAL)
    await pane.view(LAUNCH)  # paused: only the policy question is left
    await sandbox.wait_for(lambda: pane.prompts() == ["What may AI do in #launch?"])


async def test_policy_and_approvers_are_read_from_the_policy(
    gov: Stack, model: ModelServer
) -> None:
    pane = gov.sandbox.user(EMPLOYEE).pane
    await opened(gov, pane, LAUNCH)
    policy = await pane_answer(gov, pane, "What may AI do in #launch?")
    assert "• Summaries: allowed" in policy
    assert "• Drafts: allowed, approved by `managers` first" in policy
    assert "• Follow-up questions: off (not in the policy)" in policy
    approvers = await pane_answer(gov, pane, "who approves drafts here?")
    assert approvers.startswith(f"Drafts in <#{LAUNCH}> are approved by `managers`:")
    assert "<@" not in approvers  # names, never pings
    assert model.requests == []
