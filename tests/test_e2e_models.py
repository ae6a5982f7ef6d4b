"""Summaries and drafts end to end against loopback model servers that behave like real ones:
a schema-only model, a server without Structured Outputs, a reasoning model, a proxy's HTML
page, Azure OpenAI. Signed Slack requests in, the sandbox records what Steward posted, a real
Redis; nothing of ours is mocked."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.sandbox import Sandbox
from app.sandbox.openai_compat import ModelServer, Profile
from app.sandbox.records import Ephemeral
from tests.e2e import EMPLOYEE, GENERAL, LAUNCH, Stack, model_settings, running_stack


def launch_thread(sandbox: Sandbox) -> Any:
    return next(m for m in sandbox.messages(LAUNCH) if m.reply_count and m.reply_count > 30)


def summaries(sandbox: Sandbox) -> list[Ephemeral]:
    return [
        e for e in sandbox.ephemerals(user=EMPLOYEE) if "Share in thread" in json.dumps(e.blocks)
    ]


def drafts(sandbox: Sandbox) -> list[Ephemeral]:
    return [e for e in sandbox.ephemerals(user=EMPLOYEE) if "Discard" in json.dumps(e.blocks)]


def told(sandbox: Sandbox, words: str) -> list[str]:
    return [e.text for e in sandbox.ephemerals(user=EMPLOYEE) if words in e.text]


async def audit(stack: Stack) -> list[Any]:
    return [e async for e in stack.runtime.services.audit.export()]


async def drained(stack: Stack) -> bool:
    """Every job acknowledged: none is waiting for a retry."""
    return await stack.runtime.queue.depth() == 0


async def summarise(stack: Stack) -> Ephemeral:
    sandbox = stack.sandbox
    before = len(summaries(sandbox))
    await sandbox.user(EMPLOYEE).message_shortcut("summarize_thread", launch_thread(sandbox))
    return (await sandbox.wait_for(lambda: summaries(sandbox)[before:], timeout=30))[0]


async def draft(stack: Stack, what: str = "announce that the beta moves to May 12") -> Ephemeral:
    sandbox = stack.sandbox
    before = len(drafts(sandbox))
    await sandbox.user(EMPLOYEE).command("/draft", what, channel=GENERAL)
    return (await sandbox.wait_for(lambda: drafts(sandbox)[before:], timeout=30))[0]


@pytest.fixture
async def stack_for(redis_url: str, redis_sync: object, tmp_path: Path) -> AsyncIterator[Any]:
    """`async with stack_for(model, **settings) as stack:` — the app against that model."""

    def start(model: ModelServer, **settings: Any) -> Any:
        values = {**model_settings(model.url), **settings}
        return running_stack(redis_url, tmp_path, **values)

    yield start


@pytest.mark.parametrize("profile", ["strict_schema", "no_schema", "reasoning"])
async def test_summaries_and_drafts_work_against_each_kind_of_model(
    stack_for: Any, profile: Profile
) -> None:
    async with ModelServer(profile=profile) as model, stack_for(model) as stack:
        result = await summarise(stack)
        assert "/archives/C0LAUNCH/p" in json.dumps(result.blocks)  # cited points
        written = await draft(stack)
        assert "beta moves to May 12" in json.dumps(written.blocks)
        names = [e.event for e in await audit(stack)]
        assert names == ["requested", "generated", "requested", "generated"]
        answered = model.accepted
        assert {r.model for r in model.requests} == {"test-model"}
        if profile == "reasoning":  # learnt from the first 400, then never sent again
            assert [r.status for r in model.requests][:2] == [400, 200]
            assert all("max_completion_tokens" in r.params for r in answered)
            assert not any(r.params & {"max_tokens", "temperature", "logprobs"} for r in answered)
        expected = "json_object" if profile == "no_schema" else "json_schema"
        assert {r.response_format for r in answered} == {expected}


async def test_a_reasoning_model_confidence_uses_grounding_and_why_says_so(
    stack_for: Any,
) -> None:
    async with (
        ModelServer(profile="reasoning") as model,
        stack_for(model, openai_model="gpt-5-mini") as stack,
    ):
        result = await summarise(stack)
        assert [r.status for r in model.requests] == [200]  # known by name: no refusal
        generated = (await audit(stack))[-1]
        assert generated.extra["confidence"]["logprob_score"] is None
        assert "grounding only" in generated.extra["confidence"]["basis"]
        employee = stack.sandbox.user(EMPLOYEE)
        await employee.click("Why?", in_=result)
        modal = await stack.sandbox.wait_for(lambda: employee.modal)
        shown = json.dumps(modal.blocks)
        assert "grounding only" in shown and "reasoning models give no token probabilities" in shown


async def test_capabilities_are_remembered_so_the_second_summary_does_not_probe(
    stack_for: Any,
) -> None:
    async with ModelServer(profile="no_schema") as model, stack_for(model) as stack:
        await summarise(stack)
        first = len(model.requests)
        await stack.runtime.services.redis.delete(*await _summary_cache_keys(stack))
        await summarise(stack)
        assert [r.response_format for r in model.requests].count("json_schema") == 1
        assert [r.response_format for r in model.requests[first:]] == ["json_object"]


async def _summary_cache_keys(stack: Stack) -> list[str]:
    redis = stack.runtime.services.redis
    return [key async for key in redis.scan_iter("steward:summ:*")]


async def test_an_html_answer_fails_once_with_a_clear_message_and_no_rerun(
    stack_for: Any,
) -> None:
    async with ModelServer(answer="html") as model, stack_for(model) as stack:
        sandbox = stack.sandbox
        await sandbox.user(EMPLOYEE).message_shortcut("summarize_thread", launch_thread(sandbox))
        await sandbox.wait_for(lambda: told(sandbox, "answer could not be read"), timeout=30)
        await sandbox.wait_for(lambda: drained(stack), timeout=30)
        events = await audit(stack)
        assert [e.event for e in events] == ["requested", "failed"]
        assert events[-1].reason == "model: not_json"
        assert len(model.requests) == 1  # not re-run, not retried
        assert told(sandbox, "No summary was made")
        assert "if it keeps happening, tell a Steward admin" in told(sandbox, "No summary")[0]

        await sandbox.user(EMPLOYEE).command("/draft", "say hi to the team", channel=GENERAL)
        await sandbox.wait_for(lambda: told(sandbox, "No draft was made"), timeout=30)
        await sandbox.wait_for(lambda: drained(stack), timeout=30)
        names = [e.event for e in await audit(stack)]
        assert names == ["requested", "failed", "requested", "failed"]


ALLOWED_ONLY = """
defaults:
  model: gpt-4o-mini
  allowed_models: [gpt-4o-mini]
use_cases:
  summarize:
    channels: ["*"]
  draft:
    channels: ["*"]
"""


async def test_the_policys_model_is_the_only_one_sent_for_summaries_and_drafts(
    stack_for: Any, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text(ALLOWED_ONLY)
    # OPENAI_MODEL is test-model, which the policy does not allow: it must never be sent.
    async with ModelServer() as model, stack_for(model, steward_policy=policy) as stack:
        await summarise(stack)
        await draft(stack)
        assert model.requests and {r.model for r in model.requests} == {"gpt-4o-mini"}
        generated = [e for e in await audit(stack) if e.event == "generated"]
        assert [e.model for e in generated] == ["gpt-4o-mini", "gpt-4o-mini"]

        # A policy in force whose model is outside its allowlist (as a reload race or a bug
        # could leave it): refused before anything reaches the model server.
        services = stack.runtime.services
        defaults = services.policy.defaults.model_copy(update={"allowed_models": ["gpt-4o"]})
        services.policy = services.policy.model_copy(update={"defaults": defaults})
        sent = len(model.requests)
        sandbox = stack.sandbox
        await sandbox.user(EMPLOYEE).message_shortcut("summarize_thread", launch_thread(sandbox))
        await sandbox.user(EMPLOYEE).command("/draft", "say hi", channel=GENERAL)
        await sandbox.wait_for(lambda: len(told(sandbox, "does not allow the model")) == 2)
        assert len(model.requests) == sent
        refused = [e for e in await audit(stack) if e.event == "refused"]
        assert [e.reason for e in refused] == ["model_not_allowed", "model_not_allowed"]
        assert {e.use_case for e in refused} == {"summarize", "draft"}


async def test_azure_settings_send_summaries_to_the_deployment(stack_for: Any) -> None:
    async with (
        ModelServer() as model,
        stack_for(
            model,
            openai_api_key=None,
            openai_base_url=None,
            azure_openai_endpoint=model.azure_endpoint,
            azure_openai_api_key="azure-e2e-key",
            openai_api_version="2024-10-21",
            azure_openai_deployments="test-model=steward-summaries",
        ) as stack,
    ):
        await summarise(stack)
        sent = model.requests[0]
        assert sent.path == "/openai/deployments/steward-summaries/chat/completions"
        assert (sent.api_version, sent.api_key) == ("2024-10-21", "azure-e2e-key")
        generated = (await audit(stack))[-1]
        assert generated.event == "generated" and generated.model == "test-model"


async def test_a_conversation_past_the_context_window_is_explained(stack_for: Any) -> None:
    async with ModelServer(context_window=200) as model, stack_for(model) as stack:
        sandbox = stack.sandbox
        await sandbox.user(EMPLOYEE).message_shortcut("summarize_thread", launch_thread(sandbox))
        await sandbox.wait_for(lambda: told(sandbox, "too long for the AI model"), timeout=30)
        # What to do next fits the failure: retrying the same request would not help.
        assert "Try a shorter time window or a single thread." in told(sandbox, "too long")[0]
        events = await audit(stack)
        assert [e.event for e in events] == ["requested", "failed"]
        assert events[-1].reason == "model: context_length_exceeded"
        assert len(model.requests) == 1
