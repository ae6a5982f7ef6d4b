"""User-controlled text in Steward's messages is shown, never run: no pings, no disguised links.

End to end through signed HTTP, the strict sandbox and a real Redis: a requester and an approver
whose real names are hostile mrkdwn, a hostile reject reason and a hostile use-case purpose;
then the views and the helper on their own.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.drafts import views as view
from app.model.sanitize import sanitize_output
from app.sandbox import Sandbox
from app.sandbox.records import Message
from app.slack.mrkdwn import escape
from tests.e2e import ADMIN, EMPLOYEE, LAUNCH, MANAGER, Stack, running_stack
from tests.test_e2e_draft import POLICY, interaction_of, labels, new_draft, posts, write_policy

HOSTILE = "<!channel> Priya <https://evil|HR>"
SHOWN = "&lt;!channel&gt; Priya &lt;https://evil|HR&gt;"
REVIEWER = "Marcus <!here> & <https://evil|IT>"
REVIEWER_SHOWN = "Marcus &lt;!here&gt; &amp; &lt;https://evil|IT&gt;"
# summaries only in #general, so a use-case request for #launch can be made
REQUEST_POLICY = POLICY.replace(
    '    channels: ["*"]\n  draft:', "    channels: [C0GENERAL]\n  draft:"
)


def wire(*messages: Message) -> str:
    """Everything Slack was sent for these messages: top-level text and blocks."""
    return json.dumps([[m.text, m.blocks] for m in messages], ensure_ascii=False)


def assert_defused(shown: str) -> None:
    for live in ("<!channel>", "<!here>", "<https://evil|HR>", "<https://evil|IT>"):
        assert live not in shown


def hostile_names(sandbox: Sandbox) -> None:
    sandbox.workspace.users[EMPLOYEE].real_name = HOSTILE
    sandbox.workspace.users[MANAGER].real_name = REVIEWER


@pytest.fixture
async def stack(redis_url: str, redis_sync: object, tmp_path: Path) -> AsyncIterator[Stack]:
    policy = write_policy(tmp_path, REQUEST_POLICY)
    async with running_stack(redis_url, tmp_path, steward_policy=str(policy)) as running:
        hostile_names(running.sandbox)
        yield running


def dm_messages(sandbox: Sandbox, user: str) -> list[Message]:
    return sandbox.messages(sandbox.workspace.open_im(user).id)


async def test_hostile_names_never_ping_or_link_in_requests_posts_and_dms(stack: Stack) -> None:
    sb = stack.sandbox
    draft = await new_draft(stack, "announce that the beta launch moves to May 12")
    await sb.user(EMPLOYEE).click("Submit for approval", in_=draft)
    request = (await sb.wait_for(lambda: pending(sb)))[0]
    parent = sb.workspace.channels[LAUNCH].by_ts[request.thread_ts or ""]
    for message in (request, parent):
        shown = wire(message)
        assert_defused(shown)
        assert SHOWN in shown

    await sb.user(MANAGER).click("Approve", in_=request)
    post = (await sb.wait_for(lambda: posts(sb, LAUNCH)))[0]
    shown = wire(post)
    assert_defused(shown)
    assert f"for {SHOWN} · approved by {REVIEWER_SHOWN}" in shown
    await sb.wait_for(lambda: "Approved by" in json.dumps(request.blocks))
    assert_defused(wire(request, parent))
    told = await sb.wait_for(
        lambda: [e for e in sb.ephemerals(user=EMPLOYEE) if "was posted in" in e.text]
    )
    assert REVIEWER_SHOWN in told[0].text and "<!here>" not in told[0].text
    assert_defused(wire(*sb.messages(LAUNCH)))


def pending(sb: Sandbox) -> list[Message]:
    """Approval requests in #launch that still carry their buttons."""
    found = sorted(sb.workspace.channels[LAUNCH].by_ts.values(), key=lambda m: m.ts)
    return [m for m in found if "Approve" in labels(m.blocks)]


async def test_a_hostile_reject_reason_is_shown_as_text_in_the_channel_and_the_dm(
    stack: Stack,
) -> None:
    sb = stack.sandbox
    draft = await new_draft(stack, "announce the new pricing tiers")
    await sb.user(EMPLOYEE).click("Submit for approval", in_=draft)
    request = (await sb.wait_for(lambda: pending(sb)))[0]
    await sb.user(MANAGER).click("Reject", in_=request)
    await sb.wait_for(lambda: sb.user(MANAGER).modal)
    await sb.user(MANAGER).submit({"Reason": "No. <!channel> read <https://evil|HR> & decide"})
    parent = sb.workspace.channels[LAUNCH].by_ts[request.thread_ts or ""]
    await sb.wait_for(lambda: all("Rejected by" in m.text for m in (request, parent)))
    reason_shown = "No. &lt;!channel&gt; read &lt;https://evil|HR&gt; &amp; decide"
    for message in (request, parent):
        shown = wire(message)
        assert_defused(shown)
        assert reason_shown in shown
    dm = await sb.wait_for(
        lambda: [m for m in dm_messages(sb, EMPLOYEE) if "was rejected by" in m.text]
    )
    assert_defused(wire(*dm))
    assert reason_shown in dm[0].text and REVIEWER_SHOWN in dm[0].text
    assert posts(sb, LAUNCH) == []
    # The audit keeps the reason as it was written.
    trail = await stack.runtime.services.audit.events_for(interaction_of(draft))
    assert [e.reason for e in trail if e.event == "rejected"] == [
        "No. <!channel> read <https://evil|HR> & decide"
    ]


async def test_a_hostile_purpose_reaches_the_admins_as_text(stack: Stack) -> None:
    sb = stack.sandbox
    purpose = "weekly recap <!channel> see <https://evil|HR>"
    await sb.user(EMPLOYEE).command("/steward", f"request summarize {purpose}", channel=LAUNCH)
    ask = await sb.wait_for(
        lambda: [m for m in dm_messages(sb, ADMIN) if "AI use-case request" in m.text]
    )
    shown = wire(*ask)
    assert_defused(shown)
    assert "weekly recap &lt;!channel&gt; see &lt;https://evil|HR&gt;" in shown
    await sb.user(ADMIN).click("Approve", in_=ask[0])
    await sb.wait_for(lambda: "Approved by" in json.dumps(ask[0].blocks))
    assert_defused(wire(*dm_messages(sb, ADMIN)))
    # The grant, listed by /steward policy, shows the purpose as text too.
    await sb.user(EMPLOYEE).command("/steward", "policy", channel=LAUNCH)
    listed = await sb.wait_for(
        lambda: [e for e in sb.ephemerals(user=EMPLOYEE) if "Granted here" in json.dumps(e.blocks)]
    )
    assert_defused(json.dumps(listed[0].blocks))
    assert "&lt;!channel&gt;" in json.dumps(listed[0].blocks)


async def test_a_shared_summary_attributes_a_hostile_name_as_text(stack: Stack) -> None:
    sb = stack.sandbox
    employee = sb.user(EMPLOYEE)
    # the policy here allows summaries in #general only: use a thread there
    started = await employee.post("C0GENERAL", "Retro notes: we ship Tuesday.")
    for text in ("Changelog is updated.", "QA signed off."):
        await employee.post("C0GENERAL", text, thread_ts=started.message.ts)
    await employee.message_shortcut("summarize_thread", started.message)
    result = (
        await sb.wait_for(
            lambda: [
                e for e in sb.ephemerals(user=EMPLOYEE) if "Share in thread" in json.dumps(e.blocks)
            ]
        )
    )[0]
    await employee.click("Share in thread", in_=result)
    shared = await sb.wait_for(
        lambda: [m for m in sb.thread("C0GENERAL", started.message.ts) if "AI-generated" in m.text]
    )
    shown = wire(*shared)
    assert_defused(shown)
    assert f"requested by {SHOWN}" in shown


# ------------------------------------------------------------------------------ the views alone


def _card(text: str = "Launch moves to May 12.") -> view.DraftCard:
    return view.DraftCard("int_1", text, "<#C0LAUNCH>", 0.8, "High", "openai", "m")


def test_views_escape_the_requester_in_every_approval_message() -> None:
    messages = [
        view.approval_parent(HOSTILE, "<#C0LAUNCH>"),
        view.approval_parent(HOSTILE, "<#C0LAUNCH>", outcome=":x: Rejected by <@U0MGR1>"),
        view.approval_request(_card(), requester=HOSTILE, approvers="<@U0MGR1>", step=0),
        view.approval_request(
            _card(), requester=HOSTILE, approvers="<@U0MGR1>", step=1, status_line="done"
        ),
    ]
    for message in messages:
        shown = json.dumps([message.text, message.blocks])
        assert_defused(shown)
        assert SHOWN in shown
        # Steward's own markup still works: the channel link and the approvers' mention
        assert "<#C0LAUNCH>" in shown


def test_the_draft_text_is_posted_as_approved() -> None:
    """The draft is the approved message: a source link in it stays a link (see mrkdwn.py)."""
    message = view.posted_message("See <https://acme.example/plan|the plan>.", "by x", "int_1")
    assert "<https://acme.example/plan|the plan>" in json.dumps(message.blocks)


def test_sanitised_output_shows_a_resolved_hostile_name_as_text() -> None:
    out = sanitize_output("Thanks <@U0EMP> for the notes", [], lambda uid: HOSTILE)
    assert_defused(out)
    assert "Priya" in out and "<" not in out.replace("&lt;", "")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("A & B <C>", "A &amp; B &lt;C&gt;"),
        ("<!channel>", "&lt;!channel&gt;"),
        ("a &lt; b &amp; c", "a &lt; b &amp; c"),  # already escaped by Slack: kept
        ("&nbsp;&#60;", "&amp;nbsp;&amp;#60;"),  # other entities are not Slack's: escaped
        ("plain", "plain"),
    ],
)
def test_escape(raw: str, shown: str) -> None:
    assert escape(raw) == shown


@given(st.text())
def test_escaped_text_never_holds_markup_and_escaping_is_idempotent(text: str) -> None:
    once = escape(text)
    assert "<" not in once and ">" not in once
    assert escape(once) == once
    unescaped = once.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert unescaped == text or "&lt;" in text or "&gt;" in text or "&amp;" in text
