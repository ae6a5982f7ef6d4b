"""Units of the governance layer: grants in Redis, the deployment's model check, check_source."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as aioredis

from app.governance.grants import GrantStore
from app.governance.policy import check_source, load_policy_text
from app.governance.policy_issues import PolicyError
from app.governance.policy_schema import (
    ApprovalConfig,
    BudgetLimits,
    ChannelUseCase,
    Defaults,
    UseCase,
)
from app.governance.watch import deployment_issues, load_policy_in_force
from app.runtime.settings import load_settings

ALLOWLIST = """\
defaults:
  allowed_models: [gpt-4o-mini, gpt-4o]
use_cases:
  summarize: {}
  draft:
    model: gpt-4o
"""


async def test_grant_store_round_trip(r: aioredis.Redis) -> None:
    grants = GrantStore(r)
    assert await grants.get("draft", "C1") is None
    await grants.add(
        request_id="ucr_1", use_case="draft", channel_id="C1", granted_by="U0A", requested_by="U0E"
    )
    await grants.add(
        request_id="ucr_2",
        use_case="summarize",
        channel_id="C2",
        granted_by="U0A",
        requested_by="U0E",
    )
    stored = await grants.get("draft", "C1")
    assert stored is not None and stored.as_policy_grant().id == "ucr_1"
    assert [g.use_case for g in await grants.for_channel("C1")] == ["draft"]
    assert len(await grants.all()) == 2
    revoked = await grants.revoke("draft", "C1")
    assert revoked is not None and revoked.id == "ucr_1"
    assert await grants.revoke("draft", "C1") is None  # idempotent: nothing left to revoke
    assert await grants.get("draft", "C1") is None


def test_the_deployment_model_must_be_allowed_when_the_policy_names_none() -> None:
    policy = load_policy_text(ALLOWLIST)
    openai = load_settings(steward_engine="openai", openai_api_key="sk-x", openai_model="local-llm")
    issues = deployment_issues(policy, openai)
    # summarize would call OPENAI_MODEL; draft names its own model, which is allowed.
    assert [(i.path, i.line) for i in issues] == [("use_cases.summarize", None)]
    assert "OPENAI_MODEL 'local-llm'" in issues[0].message
    allowed = load_settings(steward_engine="openai", openai_api_key="sk-x", openai_model="gpt-4o")
    assert deployment_issues(policy, allowed) == []
    offline = load_settings(steward_engine="offline", openai_model="local-llm")
    assert deployment_issues(policy, offline) == []  # no model is called at all
    named = load_policy_text("defaults: {model: gpt-4o, allowed_models: [gpt-4o]}\n")
    assert deployment_issues(named, openai) == []


def test_load_policy_in_force_refuses_a_model_not_allowed(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(ALLOWLIST)
    settings = load_settings(
        steward_engine="openai",
        openai_api_key="sk-x",
        openai_model="local-llm",
        steward_policy=path,
    )
    with pytest.raises(PolicyError) as caught:
        load_policy_in_force(settings)
    assert "use_cases.summarize" in str(caught.value)


def test_check_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    built_in = check_source(None)
    assert built_in.policy is not None and "no policy file" in built_in.note
    (tmp_path / "policy.yml").write_text("use_cases:\n  draft: {approval: {approvers: x}}\n")
    found = check_source(None)
    assert found.name == "policy.yml" and found.policy is None
    assert [str(p) for p in found.problems] == [
        "line 2: use_cases.draft.approval.approvers: unknown group 'x'"
    ]


README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_documented_example_is_valid_and_every_key_is_documented() -> None:
    text = README.read_text().split("## Governance policy", 1)[1]
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    policy = load_policy_text(example, "README.md")
    assert sorted(policy.use_cases) == ["draft", "summarize"]
    documented = text.split("### Every key", 1)[1].split("\n### ", 1)[0]
    sections = {
        "defaults.": Defaults,
        "use_cases.<name>.": UseCase,
        "channels.<ID>.<use case>.": ChannelUseCase,
        "….approval.": ApprovalConfig,
        "defaults.budget.": BudgetLimits,
    }
    for prefix, model in sections.items():
        for key in model.model_fields:
            assert f"`{prefix}{key}`" in documented, f"{prefix}{key} is not documented"
    for key in ("admins", "groups"):
        assert f"| `{key}` |" in documented
