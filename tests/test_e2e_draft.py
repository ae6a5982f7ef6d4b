"""Drafts with in-channel approval, end to end through the sandbox (signed HTTP, real Redis)."""

from __future__ import annotations

import asyncio
import copy
import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.drafts.views import POSTED_MARKER
from app.drafts.writer import DRAFT_SYSTEM_PROMPT
from app.runtime import timers
from app.sandbox import Sandbox
from app.sandbox.openai_compat import ModelServer
from app.sandbox.records import Ephemeral, Message
from tests.clock import ManualClock
from tests.e2e import EMPLOYEE, LAUNCH, MANAGER, Stack, model_settings, running_stack
from tests.test_e2e_processes import Processes, base_env, procs  # noqa: F401 (fixture)

MANAGER2 = "U0MGR2"
LEGAL = "U0LEGAL"
OUTSIDER = "U0ENG"
APPROVALS = "C0APPROVALS"

POLICY = """
admins: [U0ADMIN]
groups:
  managers: [U0MGR1, U0MGR2]
  legal: ["@legal-team"]
use_cases:
  summarize:
    channels: ["*"]
  draft:
    channels: ["*"]
    approval:
      required: true
      approvers: managers
      escalate_after: 4h
      escalate_to: legal
      expire_after: 24h
channels:
  C0PUBLIC:
    draft: {approval: {required: false}}
  C0GENERAL:
    draft: {approval: {required: true, approvers: managers, channel: C0APPROVALS}}
"""


def write_policy(tmp_path: Path, text: str = POLICY) -> Path:
    path = tmp_path / "policy.yml"
    path.write_text(text)
    return path


@pytest.fixture
async def stack(redis_url: str, redis_sync: object, tmp_path: Path) -> AsyncIterator[Stack]:
    policy = write_policy(tmp_path)
    async with running_stack(redis_url, tmp_path, steward_policy=str(policy)) as running:
        yield running


# ------------------------------------------------------------------------------------ helpers


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def labels(blocks: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for block in blocks:
        if block.get("type") == "actions":
            out += [e["text"]["text"] for e in block["elements"]]
    return out


def drafts_for(sb: Sandbox, user: str = EMPLOYEE, button: str = "Discard") -> list[Ephemeral]:
    return [e for e in sb.ephemerals(user=user) if button in labels(e.blocks)]


def all_messages(sb: Sandbox, channel: str) -> list[Message]:
    return sorted(sb.workspace.channels[channel].by_ts.values(), key=lambda m: m.ts)


def requests_in(sb: Sandbox, channel: str) -> list[Message]:
    """Approval requests (any state) in `channel`."""
    return [m for m in all_messages(sb, channel) if "Draft approval" in dumps(m.blocks)
            or "Approve" in labels(m.blocks)]  # fmt: skip


def pending_requests(sb: Sandbox, channel: str) -> list[Message]:
    return [m for m in all_messages(sb, channel) if "Approve" in labels(m.blocks)]


def posts(sb: Sandbox, channel: str) -> list[Message]:
    return [
        m
        for m in all_messages(sb, channel)
        if any(str(b.get("block_id", "")).startswith(POSTED_MARKER) for b in m.blocks)
    ]


def texts(sb: Sandbox, user: str) -> list[str]:
    return [e.text for e in sb.ephemerals(user=user)]


async def events(stack: Stack) -> list[Any]:
    return [e async for e in stack.runtime.services.audit.export()]


async def event_names(stack: Stack, interaction_id: str) -> list[str]:
    return [e.event for e in await stack.runtime.services.audit.events_for(interaction_id)]


async def until_event(stack: Stack, interaction_id: str, name: str) -> None:
    async def recorded() -> bool:
        return name in await event_names(stack, interaction_id)

    await stack.sandbox.wait_for(recorded)


def interaction_of(ephemeral: Ephemeral) -> str:
    for block in ephemeral.blocks:
        if block.get("type") == "actions":
            return str(block["elements"][0]["value"])
    raise AssertionError("no buttons")


async def new_draft(stack: Stack, what: str, channel: str = LAUNCH) -> Ephemeral:
    sb = stack.sandbox
    before = len(drafts_for(sb))
    delivery = await sb.user(EMPLOYEE).command("/draft", what, channel=channel)
    assert delivery.status == 200
    found = await sb.wait_for(lambda: drafts_for(sb)[before:])
    return found[-1]


async def submitted(stack: Stack, what: str, channel: str = LAUNCH) -> tuple[str, Message]:
    """A draft submitted for approval: its interaction id and the approval request."""
    sb = stack.sandbox
    draft = await new_draft(stack, what, channel)
    before = len(pending_requests(sb, channel))
    await sb.user(EMPLOYEE).click("Submit for approval", in_=draft)
    request = (await sb.wait_for(lambda: pending_requests(sb, channel)[before:]))[-1]
    return interaction_of(draft), request


# ------------------------------------------------------------------------------------ tests


async def test_draft_submit_approve_posts_once_with_attribution(stack: Stack) -> None:
    sb = stack.sandbox
    draft = await new_draft(stack, "announce that the beta launch moves to May 12")
    assert "Submit for approval" in labels(draft.blocks)
    assert "Post" not in labels(draft.blocks)  # policy requires approval here
    assert {"Edit", "Regenerate", "Discard", "Why?"} <= set(labels(draft.blocks))
    assert "Offline engine" in dumps(draft.blocks)
    assert "beta launch moves to May 12" in dumps(draft.blocks)
    interaction = interaction_of(draft)

    await sb.user(EMPLOYEE).click("Submit for approval", in_=draft)
    request = (await sb.wait_for(lambda: pending_requests(sb, LAUNCH)))[0]
    # A thread reply under a short "Draft awaiting approval" message in the draft's channel.
    parent = sb.workspace.channels[LAUNCH].by_ts[request.thread_ts or ""]
    assert "Draft awaiting approval" in parent.text
    shown = dumps(request.blocks)
    assert "<@U0MGR1>" in shown and "<@U0MGR2>" in shown
    assert "Priya Raman" in shown and "Confidence" in shown and "<#C0LAUNCH>" in shown
    assert labels(request.blocks) == ["Approve", "Edit", "Reject", "Why?"]
    # An approver may read the trace before deciding.
    await sb.user(MANAGER).click("Why?", in_=request)
    trace = await sb.wait_for(lambda: sb.user(MANAGER).modal)
    assert "Policy rule" in dumps(trace.blocks)
    await sb.wait_for(lambda: any("Submitted for approval" in t for t in texts(sb, EMPLOYEE)))
    assert posts(sb, LAUNCH) == []  # nothing is posted before someone approves

    await sb.user(MANAGER).click("Approve", in_=request)
    post = (await sb.wait_for(lambda: posts(sb, LAUNCH)))[0]
    assert "beta launch moves to May 12" in post.text
    attribution = dumps(post.blocks)
    assert "for Priya Raman · approved by Marcus Chen" in attribution
    assert "<@" not in attribution  # names, not pings
    assert post.thread_ts is None  # /draft posts to the channel itself
    await sb.wait_for(lambda: "Approved by" in dumps(request.blocks))
    assert labels(request.blocks) == []  # decided: no more buttons
    await sb.wait_for(lambda: any("was posted in" in t for t in texts(sb, EMPLOYEE)))

    await until_event(stack, interaction, "posted")
    names = await event_names(stack, interaction)
    assert names == ["requested", "generated", "approval_requested", "approved", "posted"]
    trail = await stack.runtime.services.audit.events_for(interaction)
    requested = next(e for e in trail if e.event == "approval_requested")
    assert requested.extra["approvers"] == ["U0MGR1", "U0MGR2"]
    assert requested.extra["step"] == 0 and requested.extra["target_channel"] == LAUNCH
    approved = next(e for e in trail if e.event == "approved")
    assert approved.approver_id == MANAGER and approved.approval_status == "approved"
    assert len(posts(sb, LAUNCH)) == 1


async def test_reject_with_reason_dms_the_requester_and_posts_nothing(stack: Stack) -> None:
    sb = stack.sandbox
    interaction, request = await submitted(stack, "announce the new pricing tiers")
    stale = copy.deepcopy(request)
    await sb.user(MANAGER2).click("Reject", in_=request)
    modal = await sb.wait_for(lambda: sb.user(MANAGER2).modal)
    # The reason is required: an empty one is answered with an error on the field.
    empty = await sb.user(MANAGER2).submit({"Reason": "  "})
    assert empty.status == 200 and modal.errors and sb.user(MANAGER2).modal is modal
    await sb.user(MANAGER2).submit({"Reason": "Pricing is embargoed until the board meets."})

    dm = sb.workspace.open_im(EMPLOYEE).id

    def reason_dm() -> list[Message]:
        return [m for m in sb.messages(dm) if "embargoed until the board" in m.text]

    await sb.wait_for(reason_dm)
    assert "Elena Garcia" in reason_dm()[0].text
    await sb.wait_for(lambda: "Rejected by" in dumps(request.blocks))
    assert posts(sb, LAUNCH) == []
    trail = await stack.runtime.services.audit.events_for(interaction)
    rejected = [e for e in trail if e.event == "rejected"]
    assert len(rejected) == 1
    assert rejected[0].reason == "Pricing is embargoed until the board meets."
    assert rejected[0].approver_id == MANAGER2 and rejected[0].approval_status == "rejected"
    # An Approve from a stale copy of the request finds it decided.
    await sb.user(MANAGER).click("Approve", in_=stale)
    await sb.wait_for(lambda: any("already rejected by" in t for t in texts(sb, MANAGER)))
    assert "posted" not in await event_names(stack, interaction)
    assert posts(sb, LAUNCH) == []


async def test_edit_and_approve_posts_the_edited_text_and_keeps_both(stack: Stack) -> None:
    sb = stack.sandbox
    interaction, request = await submitted(stack, "announce the launch party on Friday")
    original = (await stack.runtime.services.audit.events_for(interaction))[1].output
    assert original and "launch party on Friday" in original
    await sb.user(MANAGER).click("Edit", in_=request)
    modal = await sb.wait_for(lambda: sb.user(MANAGER).modal)
    assert "launch party on Friday" in dumps(modal.blocks)
    edited = "Launch party moves to Friday 5pm in the atrium. @channel bring friends!"
    await sb.user(MANAGER).submit({"Draft text": edited})
    post = (await sb.wait_for(lambda: posts(sb, LAUNCH)))[0]
    assert "Launch party moves to Friday 5pm in the atrium." in post.text
    assert "@channel" not in post.text  # a person's edit still never broadcasts
    assert "approved by Marcus Chen" in dumps(post.blocks)

    await until_event(stack, interaction, "posted")
    trail = await stack.runtime.services.audit.events_for(interaction)
    names = [e.event for e in trail]
    assert names[-3:] == ["edited", "approved", "posted"]
    edit = next(e for e in trail if e.event == "edited")
    assert edit.extra["previous"] == original
    assert edit.output and "atrium" in edit.output
    assert edit.approver_id == MANAGER
    approved = next(e for e in trail if e.event == "approved")
    assert approved.output == edit.output and approved.approver_id == MANAGER


async def test_fifty_concurrent_approvals_post_exactly_once(stack: Stack) -> None:
    sb = stack.sandbox
    interaction, request = await submitted(stack, "announce the office closes at 3pm today")
    clicks = [sb.user(MANAGER if n % 2 else MANAGER2).click("Approve", in_=request)
              for n in range(50)]  # fmt: skip
    deliveries = await asyncio.gather(*clicks)
    assert all(d.status == 200 for d in deliveries)

    def answered() -> int:
        return sum(
            1 for user in (MANAGER, MANAGER2) for t in texts(sb, user) if "already approved by" in t
        )

    await sb.wait_for(lambda: answered() == 49, timeout=30)
    await sb.wait_for(lambda: posts(sb, LAUNCH))
    await until_event(stack, interaction, "posted")
    await sb.wait_for(lambda: _drained(stack), timeout=30)
    assert len(posts(sb, LAUNCH)) == 1
    names = await event_names(stack, interaction)
    assert names.count("approved") == 1 and names.count("posted") == 1
    assert "refused" not in names
    assert len(sb.calls("chat.postMessage")) == len(
        [c for c in sb.calls("chat.postMessage") if c.ok]
    )


async def _drained(stack: Stack) -> bool:
    return await stack.runtime.queue.depth() == 0


async def test_requester_and_outsider_are_refused_and_logged(stack: Stack) -> None:
    sb = stack.sandbox
    interaction, request = await submitted(stack, "announce the team offsite in June")
    await sb.user(EMPLOYEE).click("Approve", in_=request)
    await sb.wait_for(lambda: any("your own draft" in t for t in texts(sb, EMPLOYEE)))
    await sb.user(OUTSIDER).click("Approve", in_=request)
    await sb.wait_for(lambda: any("can decide on this draft" in t for t in texts(sb, OUTSIDER)))
    await sb.user(OUTSIDER).click("Reject", in_=request)
    await sb.wait_for(
        lambda: sum("can decide on this draft" in t for t in texts(sb, OUTSIDER)) == 2
    )
    assert sb.user(OUTSIDER).modal is None  # no reject modal for someone who may not decide
    trail = await stack.runtime.services.audit.events_for(interaction)
    refused = [e for e in trail if e.event == "refused"]
    assert [(e.actor_id, e.reason) for e in refused] == [
        (EMPLOYEE, "approve: requester"),
        (OUTSIDER, "approve: not an approver"),
        (OUTSIDER, "reject: not an approver"),
    ]
    assert all(e.approval_status == "pending" for e in refused)
    assert posts(sb, LAUNCH) == [] and "approved" not in [e.event for e in trail]
    assert pending_requests(sb, LAUNCH)  # still open for a real approver


async def test_no_approval_needed_posts_directly_and_discard_posts_nothing(stack: Stack) -> None:
    sb = stack.sandbox
    draft = await new_draft(stack, "share that the status page moved", channel="C0PUBLIC")
    assert "Post" in labels(draft.blocks) and "Submit for approval" not in labels(draft.blocks)
    await sb.user(EMPLOYEE).click("Post", in_=draft)
    post = (await sb.wait_for(lambda: posts(sb, "C0PUBLIC")))[0]
    assert "approved by" not in dumps(post.blocks)
    assert "for Priya Raman" in dumps(post.blocks)
    await sb.user(EMPLOYEE).click("Post", in_=draft)  # a second click posts nothing more
    await sb.wait_for(lambda: any("already posted" in t for t in texts(sb, EMPLOYEE)))
    assert len(posts(sb, "C0PUBLIC")) == 1

    other = await new_draft(stack, "announce a fire drill", channel="C0PUBLIC")
    await sb.user(EMPLOYEE).click("Discard", in_=other)
    await sb.wait_for(lambda: any("Draft discarded" in t for t in texts(sb, EMPLOYEE)))
    assert len(posts(sb, "C0PUBLIC")) == 1
    assert (await event_names(stack, interaction_of(other)))[-1] == "discarded"


async def test_requester_edits_then_withdraws(stack: Stack) -> None:
    sb = stack.sandbox
    draft = await new_draft(stack, "announce the hackathon", channel="C0GENERAL")
    interaction = interaction_of(draft)
    await sb.user(EMPLOYEE).click("Edit", in_=draft)
    await sb.wait_for(lambda: sb.user(EMPLOYEE).modal)
    await sb.user(EMPLOYEE).submit({"Draft text": "Hackathon is on! Sign up by Friday."})
    updated = await sb.wait_for(
        lambda: [d for d in drafts_for(sb) if "Sign up by Friday" in dumps(d.blocks)]
    )
    await sb.user(EMPLOYEE).click("Submit for approval", in_=updated[-1])
    # This channel's policy sends approval requests to #approvals.
    request = (await sb.wait_for(lambda: pending_requests(sb, APPROVALS)))[0]
    assert "Sign up by Friday" in dumps(request.blocks)
    stale = copy.deepcopy(request)
    confirmation = (await sb.wait_for(lambda: drafts_for(sb, button="Withdraw")))[-1]
    await sb.user(EMPLOYEE).click("Withdraw", in_=confirmation)
    await sb.wait_for(lambda: "Withdrawn" in dumps(request.blocks))
    await sb.user(MANAGER).click("Approve", in_=stale)
    await sb.wait_for(lambda: any("withdrew this draft" in t for t in texts(sb, MANAGER)))
    trail = await stack.runtime.services.audit.events_for(interaction)
    edit = next(e for e in trail if e.event == "edited")
    assert edit.output == "Hackathon is on! Sign up by Friday."
    assert "hackathon" in (edit.extra["previous"] or "").lower()
    last = trail[-1]
    assert last.event == "discarded" and last.approval_status == "withdrawn"
    assert posts(sb, "C0GENERAL") == []


async def test_draft_a_reply_reads_the_thread_and_posts_in_it(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path)
    async with (
        ModelServer() as model,
        running_stack(
            redis_url, tmp_path, steward_policy=str(policy), **model_settings(model.url)
        ) as stack,
    ):
        sb = stack.sandbox
        parent = next(m for m in sb.messages(LAUNCH) if m.reply_count > 30)
        await sb.user(EMPLOYEE).message_shortcut("draft_reply", parent)
        draft = (await sb.wait_for(lambda: drafts_for(sb)))[0]
        sent = model.requests[-1]
        assert sent.system == DRAFT_SYSTEM_PROMPT
        assert "<<request>>" in sent.user and "<<messages>>" in sent.user
        assert "ˆ" in sent.user  # the thread is datamarked
        assert len(sent.message_ids) == 40  # parent + latest replies, bounded
        interaction = interaction_of(draft)
        trail = await stack.runtime.services.audit.events_for(interaction)
        generated = next(e for e in trail if e.event == "generated")
        assert generated.engine == "openai" and generated.tokens_in
        assert generated.extra["span"] and generated.extra["model_calls"] == 1
        assert len(generated.sources) == 40

        await sb.user(EMPLOYEE).click("Why?", in_=draft)
        why = await sb.wait_for(lambda: [v for v in sb.views if "Why" in dumps(v.view)])
        assert "openai" in dumps(why[0].view)

        await sb.user(EMPLOYEE).click("Submit for approval", in_=draft)
        request = (await sb.wait_for(lambda: pending_requests(sb, LAUNCH)))[0]
        await sb.user(MANAGER).click("Approve", in_=request)
        post = (await sb.wait_for(lambda: posts(sb, LAUNCH)))[0]
        assert post.thread_ts == parent.ts  # the reply goes into the thread
        assert "Drafted with AI for Priya Raman · approved by Marcus Chen" in dumps(post.blocks)


async def test_mention_in_a_thread_drafts_for_that_thread(stack: Stack) -> None:
    sb = stack.sandbox
    parent = next(m for m in sb.messages(LAUNCH) if m.reply_count > 30)
    await sb.user(EMPLOYEE).mention(LAUNCH, "draft thank everyone for the launch work", parent.ts)
    draft = (await sb.wait_for(lambda: drafts_for(sb)))[0]
    assert "Where things stand" in dumps(draft.blocks)  # thread highlights (offline)
    trail = await stack.runtime.services.audit.events_for(interaction_of(draft))
    assert trail[0].extra["trigger"] == "mention"
    assert trail[0].extra["target_thread_ts"] == parent.ts


# ------------------------------------------------------------------------------ escalation


def short_policy(escalate: str, expire: str) -> str:
    return f"""
groups:
  managers: [U0MGR1, U0MGR2]
  legal: ["@legal-team"]
use_cases:
  draft:
    channels: ["*"]
    approval:
      required: true
      approvers: managers
      escalate_after: {escalate}
      escalate_to: legal
      expire_after: {expire}
"""


async def test_escalation_hands_the_decision_to_the_next_group(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path, short_policy("1h", "2h"))
    async with running_stack(redis_url, tmp_path, steward_policy=str(policy)) as stack:
        sb = stack.sandbox
        interaction, request = await submitted(stack, "announce the contract renewal")
        assert "<@U0LEGAL>" not in dumps(request.blocks)
        await stack.clock.advance(3600)  # the managers' hour is up
        await sb.wait_for(lambda: "<@U0LEGAL>" in dumps(request.blocks))
        assert "escalated" in dumps(request.blocks)
        note = await sb.wait_for(
            lambda: [m for m in all_messages(sb, LAUNCH) if "now goes to" in m.text]
        )
        assert "<@U0LEGAL>" in note[0].text
        # Managers were step 1; the request now belongs to legal (a Slack user group).
        await sb.user(MANAGER).click("Approve", in_=request)
        await sb.wait_for(lambda: any("can decide on this draft" in t for t in texts(sb, MANAGER)))
        await sb.user(LEGAL).click("Approve", in_=request)
        post = (await sb.wait_for(lambda: posts(sb, LAUNCH)))[0]
        assert "approved by Rachel Kim" in dumps(post.blocks)
        await until_event(stack, interaction, "posted")
        trail = await stack.runtime.services.audit.events_for(interaction)
        escalated = [e for e in trail if e.event == "escalated"]
        assert len(escalated) == 1
        assert escalated[0].extra["approvers"] == [LEGAL] and escalated[0].extra["step"] == 1
        assert escalated[0].approval_status == "escalated"
        assert next(e for e in trail if e.event == "approved").approver_id == LEGAL


async def workers_ready(sb: Sandbox, logs: Path, count: int) -> None:
    """Each started `steward worker` says so once it consumes (and polls timers)."""

    def ready() -> bool:
        started = [p.read_text() for p in logs.glob("worker-*.log")]
        return sum("worker running" in text for text in started) >= count

    await sb.wait_for(ready, timeout=60)


@pytest.mark.slow
async def test_escalation_and_expiry_fire_once_across_worker_processes_and_restarts(
    redis_url: str,
    redis_sync: object,
    tmp_path: Path,
    procs: list[Processes],  # noqa: F811
) -> None:
    # Nothing falls due by itself while the test runs: it is the test's clock that moves.
    policy = write_policy(tmp_path, short_policy("1h", "2h"))
    # This process only serves Slack; two `steward worker` processes run the jobs and timers.
    async with running_stack(redis_url, tmp_path, workers=0, steward_policy=str(policy)) as stack:
        sb = stack.sandbox
        env = base_env(sb, redis_url, tmp_path) | {"STEWARD_POLICY": str(policy)}
        group = Processes(env, tmp_path)
        procs.append(group)
        first = [group.start("worker"), group.start("worker")]
        await workers_ready(sb, tmp_path, 2)
        interaction, request = await submitted(stack, "announce the vendor switch")
        for proc in first:  # both restart mid-wait
            proc.send_signal(signal.SIGTERM)
        for proc in first:
            await asyncio.to_thread(proc.wait, 15)
        redis = stack.runtime.services.redis
        assert set(await timers.pending(redis)) == {
            f"{interaction}:escalate:1",
            f"{interaction}:expire",
        }
        group.start("worker")
        group.start("worker")
        await workers_ready(sb, tmp_path, 4)

        # The new workers' pollers read the real clock, so nothing is due for them yet. Two
        # more pollers, racing each other on a clock this test moves, fire the timers: an hour
        # on, the escalation (run by a worker process); two hours on, the expiry.
        clock = ManualClock()
        stop = asyncio.Event()
        pollers = [
            asyncio.create_task(timers.TimerPoller(redis, stop.is_set, clock).run())
            for _ in range(2)
        ]
        try:
            await clock.advance(3600)
            await sb.wait_for(lambda: "<@U0LEGAL>" in dumps(request.blocks), timeout=30)
            await until_event(stack, interaction, "escalated")
            await clock.advance(3600)
            await sb.wait_for(lambda: "Expired" in dumps(request.blocks), timeout=30)
            dm = sb.workspace.open_im(EMPLOYEE).id
            await sb.wait_for(lambda: [m for m in sb.messages(dm) if "expired" in m.text])
            await sb.wait_for(lambda: _drained(stack), timeout=30)
        finally:
            stop.set()
            await clock.advance(1)
            await asyncio.gather(*pollers)

        trail = await stack.runtime.services.audit.events_for(interaction)
        names = [e.event for e in trail]
        assert names.count("escalated") == 1 and names.count("expired") == 1
        assert names[-2:] == ["escalated", "expired"]
        assert trail[-1].approval_status == "expired"
        assert len([m for m in all_messages(sb, LAUNCH) if "now goes to" in m.text]) == 1
        assert len([m for m in sb.messages(dm) if "expired" in m.text]) == 1
        assert labels(request.blocks) == [] and posts(sb, LAUNCH) == []
        assert await timers.pending(redis) == {}
