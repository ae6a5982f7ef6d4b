"""Who may open a Why? and give feedback: roles only, never "has clicked before" (issue 12 #3).

Black box through signed HTTP against the sandbox and a real Redis: a refused click writes a
`refused` event on the interaction, and that event must not unlock the trace on the next click.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.sandbox import Sandbox
from tests.e2e import ADMIN, EMPLOYEE, LAUNCH, MANAGER, Stack, running_stack
from tests.test_e2e_draft import LEGAL, OUTSIDER, submitted, texts, write_policy
from tests.test_e2e_summarize import launch_thread, results


@pytest.fixture
async def stack(redis_url: str, redis_sync: object, tmp_path: Path) -> AsyncIterator[Stack]:
    policy = write_policy(tmp_path)
    async with running_stack(redis_url, tmp_path, steward_policy=str(policy)) as running:
        yield running


def refusals(sb: Sandbox, user: str) -> int:
    return sum("can't see the trace" in t for t in texts(sb, user))


async def reasons(stack: Stack, interaction: str, actor: str) -> list[str | None]:
    trail = await stack.runtime.services.audit.events_for(interaction)
    return [e.reason for e in trail if e.event == "refused" and e.actor_id == actor]


async def test_a_second_why_click_by_an_outsider_is_still_refused(stack: Stack) -> None:
    sb = stack.sandbox
    interaction, request = await submitted(stack, "announce the new travel policy")
    outsider = sb.user(OUTSIDER)
    await outsider.click("Why?", in_=request)
    await sb.wait_for(lambda: refusals(sb, OUTSIDER) == 1)
    # The first refusal is an event on the interaction; it grants nothing.
    await outsider.click("Why?", in_=request)
    await sb.wait_for(lambda: refusals(sb, OUTSIDER) == 2)
    assert outsider.modal is None
    assert await reasons(stack, interaction, OUTSIDER) == ["why: not allowed"] * 2

    # Legal is only asked if the request escalates: not an approver of any step yet.
    await sb.user(LEGAL).click("Why?", in_=request)
    await sb.wait_for(lambda: refusals(sb, LEGAL) == 1)
    assert sb.user(LEGAL).modal is None


async def test_requester_approver_and_admin_open_the_trace(stack: Stack) -> None:
    sb = stack.sandbox
    interaction, request = await submitted(stack, "announce the quarterly all-hands")
    # The requester, from their submitted draft's approval request (the same interaction).
    for user in (EMPLOYEE, MANAGER, ADMIN):
        await sb.user(user).click("Why?", in_=request)
        modal = await sb.wait_for(lambda u=user: sb.user(u).modal)  # type: ignore[misc]
        assert "Policy rule" in json.dumps(modal.blocks)
        assert interaction in json.dumps(modal.blocks)
    trail = await stack.runtime.services.audit.events_for(interaction)
    assert [e for e in trail if e.event == "refused"] == []


async def test_feedback_by_an_outsider_is_refused_audited_and_unlocks_nothing(
    stack: Stack,
) -> None:
    sb = stack.sandbox
    await sb.user(EMPLOYEE).message_shortcut("summarize_thread", launch_thread(sb))
    result = (await sb.wait_for(lambda: results(sb)))[0]
    interaction = next(
        str(e["value"]) for b in result.blocks if b.get("type") == "actions" for e in b["elements"]
    )
    outsider = sb.user(OUTSIDER)
    await outsider.click("👍", in_=result)
    await sb.wait_for(lambda: any("only rate an answer" in t for t in texts(sb, OUTSIDER)))
    # Neither the refused feedback nor the refused Why? opens the trace afterwards.
    await outsider.click("Why?", in_=result)
    await sb.wait_for(lambda: refusals(sb, OUTSIDER) == 1)
    await outsider.click("Why?", in_=result)
    await sb.wait_for(lambda: refusals(sb, OUTSIDER) == 2)
    assert outsider.modal is None
    assert await reasons(stack, interaction, OUTSIDER) == [
        "feedback: not allowed",
        "why: not allowed",
        "why: not allowed",
    ]
    trail = await stack.runtime.services.audit.events_for(interaction)
    assert [e for e in trail if e.event == "feedback"] == []

    # The requester's own feedback counts, and the admin may read the trace.
    await sb.user(EMPLOYEE).click("👎", in_=result)
    await sb.wait_for(lambda: any("not helpful" in t for t in texts(sb, EMPLOYEE)))
    await sb.user(ADMIN).click("Why?", in_=result)
    assert "Policy rule" in json.dumps((await sb.wait_for(lambda: sb.user(ADMIN).modal)).blocks)
    trail = await stack.runtime.services.audit.events_for(interaction)
    feedback = [e for e in trail if e.event == "feedback"]
    assert [(e.actor_id, e.reason) for e in feedback] == [(EMPLOYEE, "down")]
    assert feedback[0].channel_id == LAUNCH and feedback[0].use_case == "summarize"


async def test_an_admin_exports_evidence_from_why_and_others_cannot(stack: Stack) -> None:
    from app.audit import evidence
    from app.audit.evidence_export import EvidenceExportRequest, run_evidence_export

    sb = stack.sandbox
    interaction, request = await submitted(stack, "announce the office move")
    await sb.user(EMPLOYEE).click("Why?", in_=request)
    employee_view = await sb.wait_for(lambda: sb.user(EMPLOYEE).modal)
    assert "Export evidence" not in json.dumps(employee_view.blocks)  # admins and auditors only

    admin = sb.user(ADMIN)
    await admin.click("Why?", in_=request)
    modal = await sb.wait_for(lambda: admin.modal)
    await admin.click("Export evidence", in_=modal)
    dm = sb.workspace.open_im(ADMIN).id
    (package,) = await sb.wait_for(
        lambda: [f for f in sb.workspace.files.values() if dm in f.channels] or None
    )
    assert package.name == f"evidence-{interaction}.json"
    checkpoint, count = evidence.check((package.content or b"").decode())
    events = await stack.runtime.services.audit.events_for(interaction)
    assert count == len(events) >= 3 and checkpoint.size >= events[-1].id

    # A forged click (the employee never saw the button) is refused on the server and audited.
    await run_evidence_export(
        stack.runtime.services,
        EvidenceExportRequest(interaction_id=interaction, user_id=EMPLOYEE, team_id="T0ACME"),
    )
    (last,) = await stack.runtime.services.audit.recent(1)
    assert (last.event, last.actor_id) == ("refused", EMPLOYEE)
    assert last.reason == "why: export evidence: admins and auditors only"
    assert len([f for f in sb.workspace.files.values() if dm in f.channels]) == 1
