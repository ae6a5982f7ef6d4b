"""Admin review end to end: App Home, `/steward audit` (Why?, Export), `/steward usage`, refusals.

Real summaries run first (offline engine) so every screen shows real audit data; the sandbox
validates every message and view as Block Kit, so an invalid screen fails the test.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.audit.event import AuditEvent
from app.sandbox.openai_compat import ModelServer
from app.sandbox.records import Ephemeral
from tests.e2e import (
    ADMIN,
    EMPLOYEE,
    GENERAL,
    LAUNCH,
    MANAGER,
    Stack,
    model_settings,
    running_stack,
)
from tests.test_e2e_summarize import launch_thread, results

LEGAL = "U0LEGAL"
POLICY = """\
admins: [U0ADMIN]
groups:
  managers: [U0MGR1, U0MGR2]
defaults:
  retention_days: 30
use_cases:
  summarize:
    channels: ["*"]
"""


@pytest.fixture
async def stack(redis_url: str, redis_sync: object, tmp_path: Path) -> AsyncIterator[Stack]:
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    async with running_stack(redis_url, tmp_path, steward_policy=str(policy)) as running:
        yield running


async def events(stack: Stack) -> list[AuditEvent]:
    return [e async for e in stack.runtime.services.audit.export()]


async def summarise_twice_with_feedback(stack: Stack) -> None:
    """Two real summaries by the employee (a thread, then a channel) and a 👍 on the first."""
    sandbox = stack.sandbox
    user = sandbox.user(EMPLOYEE)
    await user.message_shortcut("summarize_thread", launch_thread(sandbox))
    first = (await sandbox.wait_for(lambda: results(sandbox)))[0]
    await user.click("👍", in_=first)
    await user.post(GENERAL, "We ship the launch on Thursday.")
    await user.command("/summarize", "6h", channel=GENERAL)
    await sandbox.wait_for(lambda: len(results(sandbox)) >= 2)

    async def feedback_recorded() -> bool:
        return any(e.event == "feedback" for e in await events(stack))

    await sandbox.wait_for(feedback_recorded)


def ephemeral_with(stack: Stack, user: str, text: str) -> Any:
    return lambda: next((e for e in stack.sandbox.ephemerals(user=user) if text in e.text), None)


def dumps(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def field_value(blocks: list[dict[str, Any]], label: str, nth: int = 0) -> str:
    """The value of a section field `*label*\\nvalue` (nth occurrence: one per dashboard)."""
    found = [
        field["text"].split("\n", 1)[1]
        for block in blocks
        for field in block.get("fields") or []
        if field["text"].startswith(f"*{label}*\n")
    ]
    return found[nth]


async def test_admin_home_shows_the_dashboard_with_real_numbers(stack: Stack) -> None:
    await summarise_twice_with_feedback(stack)
    sandbox = stack.sandbox
    await sandbox.user(ADMIN).open_home()
    home = await sandbox.wait_for(lambda: sandbox.home(ADMIN))
    rendered = dumps(home.blocks)
    assert "Admin · usage, last 7 days" in rendered and "Admin · usage, last 30 days" in rendered
    assert len(home.blocks) <= 100
    requested = [e for e in await events(stack) if e.event == "requested"]
    assert len(requested) == 2
    for nth in (0, 1):  # both windows hold both summaries and the 👍
        assert field_value(home.blocks, "Interactions", nth) == "2"
        assert field_value(home.blocks, "Feedback", nth) == "👍 1 · 👎 0"
    assert "<@U0EMP>" in rendered and "<#C0LAUNCH>" in rendered  # top users / channels
    assert "█" in rendered  # the text bar charts


async def test_everyone_sees_their_own_requests_but_not_the_dashboard(stack: Stack) -> None:
    await summarise_twice_with_feedback(stack)
    sandbox = stack.sandbox
    await sandbox.user(EMPLOYEE).open_home()
    home = await sandbox.wait_for(lambda: sandbox.home(EMPLOYEE))
    rendered = dumps(home.blocks)
    assert "Your recent requests" in rendered
    assert rendered.count('"action_id": "why"') == 2  # one Why? per summary
    assert f"<#{LAUNCH}>" in rendered and f"<#{GENERAL}>" in rendered
    assert "Admin · usage" not in rendered
    await sandbox.user(MANAGER).open_home()
    other = await sandbox.wait_for(lambda: sandbox.home(MANAGER))
    assert "Nothing yet" in dumps(other.blocks)  # the manager asked for nothing


async def open_home(stack: Stack, user: str) -> str:
    """Open `user`'s App Home and return it once (re)published, as JSON text."""
    sandbox = stack.sandbox
    before = sandbox.home(user)
    old_hash = before.hash if before else None
    await sandbox.user(user).open_home()
    home = await sandbox.wait_for(
        lambda: (h := sandbox.home(user)) is not None and h.hash != old_hash and h
    )
    return dumps(home.blocks)


async def test_approvers_see_what_awaits_them_until_it_is_decided(stack: Stack) -> None:
    """The events as the draft feature records them: approval_requested, then escalated."""
    audit = stack.runtime.services.audit
    common: dict[str, Any] = {"interaction_id": "draft-1", "channel_id": GENERAL}
    await audit.record(
        event="requested", actor_id=EMPLOYEE, use_case="draft", approval_status="pending", **common
    )
    await audit.record(
        event="approval_requested",
        actor_id=EMPLOYEE,
        use_case="draft",
        approval_status="pending",
        extra={"approvers": [MANAGER], "step": 0, "approval_channel": "C0APPROVALS"},
        **common,
    )
    home = await open_home(stack, MANAGER)
    assert "Awaiting your approval (1)" in home
    assert "from <@U0EMP> in <#C0GENERAL>" in home and "<#C0APPROVALS>" in home
    assert "Awaiting your approval" not in await open_home(stack, "U0MGR2")  # not named

    await audit.record(
        event="escalated",
        use_case="draft",
        approval_status="escalated",
        extra={"approvers": [LEGAL], "step": 1},
        **common,
    )
    assert "Awaiting your approval" not in await open_home(stack, MANAGER)  # escalated past
    legal = await open_home(stack, LEGAL)
    assert "Awaiting your approval (1)" in legal and "escalated · step 2" in legal
    assert "<#C0APPROVALS>" in legal

    await audit.record(
        event="approved", actor_id=LEGAL, approver_id=LEGAL, approval_status="approved", **common
    )
    assert "Awaiting your approval" not in await open_home(stack, LEGAL)
    assert await audit.awaiting(LEGAL) == [] and await audit.awaiting(MANAGER) == []


async def test_audit_lists_interactions_with_why_and_exports_to_the_admins_dm(
    stack: Stack,
) -> None:
    await summarise_twice_with_feedback(stack)
    sandbox = stack.sandbox
    admin = sandbox.user(ADMIN)
    await admin.command("/steward", "audit", channel=GENERAL)
    listing: Ephemeral = await sandbox.wait_for(ephemeral_with(stack, ADMIN, "Audit:"))
    rendered = dumps(listing.blocks)
    assert rendered.count('"action_id": "why"') == 2
    assert rendered.index("<#C0GENERAL>") < rendered.index("<#C0LAUNCH>")  # newest first
    assert "not required" in rendered and "confidence" in rendered

    # A narrower query: one interaction, so its Why? is the only one and opens the trace.
    await admin.command("/steward", f"audit <@{EMPLOYEE}|priya> <#{LAUNCH}|launch> 7d")
    narrow: Ephemeral = await sandbox.wait_for(
        lambda: next(
            (e for e in sandbox.ephemerals(user=ADMIN) if "in <#C0LAUNCH>" in e.text), None
        )
    )
    assert dumps(narrow.blocks).count('"action_id": "why"') == 1
    await admin.click("Why?", in_=narrow)
    trace = await sandbox.wait_for(
        lambda: next((v for v in sandbox.views if v.type == "modal" and v.user == ADMIN), None)
    )
    assert "Sources read" in dumps(trace.blocks)

    await admin.click("Export", in_=listing)
    dm = sandbox.workspace.open_im(ADMIN).id
    files = await sandbox.wait_for(
        lambda: [f for f in sandbox.workspace.files.values() if dm in f.channels] or None
    )
    assert sorted(Path(f.name).suffix for f in files) == [".csv", ".jsonl"]
    assert sandbox.calls("files.completeUploadExternal")
    all_events = await events(stack)
    summary_events = [e for e in all_events if e.use_case == "summarize"]
    jsonl = next(f for f in files if f.name.endswith(".jsonl")).content or b""
    lines = [json.loads(line) for line in jsonl.decode().splitlines()]
    assert [line["id"] for line in lines] == [e.id for e in summary_events]
    assert all(line["hash"] for line in lines)  # exported as stored, hashes included
    table = list(csv.DictReader(io.StringIO((files[0].content or b"").decode())))
    if files[0].name.endswith(".jsonl"):
        table = list(csv.DictReader(io.StringIO((files[1].content or b"").decode())))
    assert [int(row["id"]) for row in table] == [e.id for e in summary_events]
    await sandbox.wait_for(ephemeral_with(stack, ADMIN, "to your DM"))


async def test_audit_filters_by_status_and_person(stack: Stack) -> None:
    await summarise_twice_with_feedback(stack)
    sandbox = stack.sandbox
    await sandbox.user(ADMIN).command("/steward", f"audit approved <@{MANAGER}>")
    listing = await sandbox.wait_for(ephemeral_with(stack, ADMIN, "Audit:"))
    assert "No interactions match" in dumps(listing.blocks)
    assert '"action_id": "why"' not in dumps(listing.blocks)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ("audit yesterday", "I don't understand `yesterday`"),
        ("audit @priya", "pick the person from the @ menu"),
        ("audit 7d 30d", "Only one window"),
        ("usage 3h", "must be whole days"),
    ],
)
async def test_bad_arguments_get_usage(stack: Stack, args: str, problem: str) -> None:
    await stack.sandbox.user(ADMIN).command("/steward", args)
    answer = await stack.sandbox.wait_for(ephemeral_with(stack, ADMIN, "Usage:"))
    assert problem in answer.text


@pytest.mark.parametrize("sub", ["audit", "usage"])
async def test_non_admins_are_refused_and_it_is_recorded(stack: Stack, sub: str) -> None:
    sandbox = stack.sandbox
    await sandbox.user(EMPLOYEE).command("/steward", f"{sub} 7d")
    refusal = await sandbox.wait_for(ephemeral_with(stack, EMPLOYEE, "admins and auditors only"))
    assert refusal.channel == GENERAL
    refused = [e for e in await events(stack) if e.event == "refused"]
    assert [(e.actor_id, e.reason) for e in refused] == [
        (EMPLOYEE, f"/steward {sub}: admins and auditors only")
    ]


async def test_non_admin_export_click_is_refused(stack: Stack) -> None:
    """The Export button's job re-checks: a forged click by a non-admin uploads nothing."""
    from app.audit.admin import AuditExportRequest, run_audit_export

    services = stack.runtime.services
    await run_audit_export(
        services,
        AuditExportRequest(user_id=EMPLOYEE, team_id="T0STEWARD", query="{}", channel_id=GENERAL),
    )
    assert not stack.sandbox.workspace.files
    assert [e.reason for e in await events(stack) if e.event == "refused"] == [
        "/steward audit export: admins and auditors only"
    ]


async def test_usage_numbers_match_the_audit_events(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    """With a (loopback) model: tokens, redactions and cost from STEWARD_DATA_DIR/prices.yml."""
    (tmp_path / "policy.yml").write_text(POLICY)
    (tmp_path / "prices.yml").write_text("test-model: {input: 1000, output: 4000}\n")
    async with (
        ModelServer() as model,
        running_stack(
            redis_url,
            tmp_path,
            steward_policy=str(tmp_path / "policy.yml"),
            **model_settings(model.url),
        ) as stack,
    ):
        await summarise_twice_with_feedback(stack)
        sandbox = stack.sandbox
        await sandbox.user(ADMIN).command("/steward", "usage 7d")
        answer = await sandbox.wait_for(ephemeral_with(stack, ADMIN, "Usage, last 7 days"))
        recorded = await events(stack)
    generated = [e for e in recorded if e.event == "generated"]
    tokens_in = sum(e.tokens_in or 0 for e in generated)
    tokens_out = sum(e.tokens_out or 0 for e in generated)
    assert tokens_in > 0 and tokens_out > 0
    redactions = sum(sum(e.redactions.values()) for e in recorded)
    assert redactions > 0  # the launch thread holds an email address and a phone number
    total = tokens_in + tokens_out
    assert answer.text == f"Usage, last 7 days: 2 interactions, {total} tokens, 0 failures"
    assert field_value(answer.blocks, "Interactions") == "2"
    assert field_value(answer.blocks, "Tokens") == f"{tokens_in:,} in · {tokens_out:,} out"
    assert field_value(answer.blocks, "Redactions") == f"{redactions:,}"
    assert field_value(answer.blocks, "Feedback") == "👍 1 · 👎 0"
    cost = (tokens_in * 1000 + tokens_out * 4000) / 1_000_000
    assert field_value(answer.blocks, "Estimated cost") == f"${cost:,.2f}"
    low = sum(1 for e in generated if e.confidence is not None and e.confidence < 0.5)
    assert field_value(answer.blocks, "Low-confidence outputs") == f"{low} of 2"
    assert "prices.yml" in dumps(answer.blocks)  # says where the prices came from


async def test_offline_engine_costs_nothing(stack: Stack) -> None:
    await summarise_twice_with_feedback(stack)
    await stack.sandbox.user(ADMIN).command("/steward", "usage")
    answer = await stack.sandbox.wait_for(ephemeral_with(stack, ADMIN, "Usage, last 7 days"))
    assert field_value(answer.blocks, "Estimated cost") == "$0.00"
    assert "unpriced" not in dumps(answer.blocks)


async def test_admin_home_shows_sink_lag_and_holds_in_force(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    from app.audit.holds import Holds
    from tests.sink_receivers import free_port

    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    down = f"http://127.0.0.1:{free_port()}"  # a collector that is down
    async with running_stack(
        redis_url,
        tmp_path,
        steward_policy=str(policy),
        steward_audit_splunk_url=down,
        steward_audit_splunk_token="t0k",
    ) as stack:
        first = await open_home(stack, ADMIN)
        assert "*Audit sinks:* splunk up to date" in first  # nothing recorded yet
        assert "Legal holds" not in first
        audit = stack.runtime.services.audit
        for k in range(3):
            await audit.record(interaction_id=f"i{k}", event="requested", actor_id=EMPLOYEE)
        await Holds(audit).place("#C0LAUNCH", "regulator request")
        home = await open_home(stack, ADMIN)
        assert "*Audit sinks:* splunk 4 events behind" in home  # three and the hold's event
        assert "*Legal holds in force:* 1 (channel C0LAUNCH)" in home
        assert "Audit sinks" not in await open_home(stack, EMPLOYEE)  # admins only
