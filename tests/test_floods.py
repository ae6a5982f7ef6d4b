"""Fair under floods (issue 12, items 13 and 15), end to end through signed HTTP: the strict
sandbox, the loopback model and a real Redis.

- A person over their rate limit is refused before Steward reads anything or says "Summarising…".
- A person with their cap of jobs in flight has the next one refused at once.
- A click storm by someone who may not decide is audited and answered once, and counted.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from app.runtime.metrics import REGISTRY
from app.sandbox import Sandbox
from app.sandbox.openai_compat import ModelServer
from tests.e2e import EMPLOYEE, GENERAL, LAUNCH, Stack, model_settings, running_stack
from tests.test_e2e_draft import OUTSIDER, POLICY, submitted, write_policy

READS = ("conversations.history", "conversations.replies")


def policy(requests_per_minute: int) -> str:
    return f"""
admins: [U0ADMIN]
defaults:
  budget: {{user_requests_per_minute: {requests_per_minute}}}
use_cases:
  summarize:
    channels: ["*"]
"""


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def reads(sandbox: Sandbox) -> int:
    return sum(len(sandbox.calls(method)) for method in READS)


def progress_notes(sandbox: Sandbox) -> list[str]:
    return [e.text for e in sandbox.ephemerals(user=EMPLOYEE) if "Summarising" in e.text]


async def events(stack: Stack, name: str) -> list[Any]:
    return [e async for e in stack.runtime.services.audit.export() if e.event == name]


async def seeded(stack: Stack) -> None:
    user = stack.sandbox.user(EMPLOYEE)
    for text in ("We decided to ship on Tuesday.", "Can you update the changelog?", "Done."):
        await user.post(GENERAL, text)


async def test_a_flood_over_the_rate_limit_is_refused_before_any_fetch(
    redis_url: str, redis_sync: object, tmp_path: Path, model: ModelServer
) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(policy(requests_per_minute=2))
    limited = counter(
        "steward_limited_total", use_case="summarize", limit="user_requests_per_minute"
    )
    settings = model_settings(model.url)
    async with running_stack(redis_url, tmp_path, steward_policy=str(path), **settings) as stack:
        sandbox = stack.sandbox
        await seeded(stack)
        before = reads(sandbox)
        for sent in range(1, 7):  # one at a time: which ones pass is then certain
            delivery = await sandbox.user(EMPLOYEE).command("/summarize", "6h", channel=GENERAL)
            assert delivery.status == 200

            async def answered(count: int = sent) -> bool:
                done = await events(stack, "generated") + await events(stack, "refused")
                return len(done) >= count

            await sandbox.wait_for(answered)

        generated = await events(stack, "generated")
        refused = await events(stack, "refused")
        assert len(generated) == 2 and len(refused) == 4
        assert {e.reason for e in refused} == {"user_requests_per_minute"}
        # The refused four read nothing and announced nothing: only the two admitted did.
        assert reads(sandbox) - before == 2
        assert len(progress_notes(sandbox)) == 2
        told = [e.text for e in sandbox.ephemerals(user=EMPLOYEE) if "in the last minute" in e.text]
        assert len(told) == 4 and "limit 2" in told[0]
    after = counter("steward_limited_total", use_case="summarize", limit="user_requests_per_minute")
    assert after - limited == 4


async def test_the_next_job_over_the_in_flight_cap_is_refused_at_once(
    redis_url: str, redis_sync: object, tmp_path: Path, model: ModelServer
) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(policy(requests_per_minute=100))
    model.hold = asyncio.Event()  # the model answers nobody until the test says so
    settings = model_settings(model.url)
    async with running_stack(
        redis_url, tmp_path, steward_policy=str(path), steward_user_jobs_in_flight=3, **settings
    ) as stack:
        sandbox = stack.sandbox
        await seeded(stack)
        before = reads(sandbox)
        for _ in range(3):
            await sandbox.user(EMPLOYEE).command("/summarize", "6h", channel=GENERAL)
        await sandbox.wait_for(lambda: len(model.requests) == 3)  # three jobs in flight

        await sandbox.user(EMPLOYEE).command("/summarize", "6h", channel=GENERAL)
        refusal = await sandbox.wait_for(
            lambda: [e for e in sandbox.ephemerals(user=EMPLOYEE) if "requests running" in e.text]
        )
        assert "You already have 3 requests running" in refusal[0].text
        refused = await events(stack, "refused")
        assert [e.reason for e in refused] == ["in_flight"]
        assert reads(sandbox) - before == 3  # the fourth read nothing
        assert len(progress_notes(sandbox)) == 3

        model.hold.set()
        await sandbox.wait_for(lambda: len(progress_notes(sandbox)) == 3)

        async def all_generated() -> bool:
            return len(await events(stack, "generated")) == 3

        await sandbox.wait_for(all_generated)
        # The slots were given back: the next request runs.
        await sandbox.user(EMPLOYEE).command("/summarize", "6h", channel=GENERAL)

        async def fourth() -> bool:
            return len(await events(stack, "generated")) == 4

        await sandbox.wait_for(fourth)


async def test_a_click_storm_by_a_non_approver_is_audited_and_answered_once(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    throttled = counter("steward_refusals_throttled_total", kind="approval")
    async with running_stack(
        redis_url, tmp_path, steward_policy=str(write_policy(tmp_path, POLICY))
    ) as stack:
        sandbox = stack.sandbox
        interaction, request = await submitted(stack, "announce the beta moves to May 12", LAUNCH)
        for _ in range(50):
            delivery = await sandbox.user(OUTSIDER).click("Approve", in_=request)
            assert delivery.status == 200
        await sandbox.wait_for(
            lambda: counter("steward_refusals_throttled_total", kind="approval") - throttled == 49
        )
        trail = await stack.runtime.services.audit.events_for(interaction)
        refusals = [e for e in trail if e.event == "refused"]
        assert [(e.actor_id, e.reason) for e in refusals] == [
            (OUTSIDER, "approve: not an approver")
        ]
        told = [
            e for e in sandbox.ephemerals(user=OUTSIDER) if "can decide on this draft" in e.text
        ]
        assert len(told) == 1
        # Another button is its own refusal, told once too.
        await sandbox.user(OUTSIDER).click("Reject", in_=request)
        await sandbox.wait_for(
            lambda: sum("can decide" in e.text for e in sandbox.ephemerals(user=OUTSIDER)) == 2
        )
