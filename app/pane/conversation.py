"""A message typed (or a suggested prompt clicked) in the agent pane, routed to a use case.

Each message in the app's DM is a thread root (docs.slack.dev/ai/migrating-to-agent-messaging);
Steward answers in that thread, or in the thread a reply was written in. The words are mapped
by `intents.parse` — never by the model — and the use case runs exactly as from a command:
summaries through `app/summaries/summarize.py` (policy, budget, redaction, audit) with the pane
as their surface, drafts through `app/drafts/draft.py` and its approval flow. What policy says
(`what may AI do here?`, `who approves drafts here?`) is read from the policy, not generated.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel

from app.drafts.draft import DraftRequest, run_draft
from app.governance import gate as governance
from app.governance import resolution
from app.pane import context, followup
from app.pane.intents import Intent, Viewing, parse
from app.pane.prompts import TITLE, suggest
from app.pane.surface import PaneSurface
from app.runtime.services import Services
from app.slack import agent
from app.slack.agent import PaneThread
from app.slack.mrkdwn import escape
from app.slack.port import SlackError
from app.summaries.summarize import SummarizeRequest, run_summarize
from app.summaries.targets import Target

CAN_DO = (
    "Here is what I can do from this pane:\n"
    "• *summarise this channel* (the one open beside me), *summarise #channel this week*, "
    "*summarise this thread* or *summarise* with a thread link\n"
    "• *draft a reply saying …* (a draft for the channel in view, approved where policy says)\n"
    "• a question about a conversation, e.g. *who owns the status page?* (in the thread of a "
    "summary I made, or about the channel in view)\n"
    "• *what may AI do here?* and *who approves drafts here?*"
)
NEEDS = {
    "channel": "Which conversation? Open the channel beside this pane, name it (`#launch`), or "
    "paste a link to a thread.",
    "thread": "Which thread? Open it beside this pane or paste its link (⋯ → Copy link).",
    "content": "What should the draft say? For example: *draft a reply saying we ship Tuesday*.",
}
USE_CASE_NAMES = {"summarize": "Summaries", "draft": "Drafts", "ask": "Follow-up questions"}


class PaneMessage(BaseModel):
    team_id: str
    user_id: str
    channel_id: str  # the app's DM with the person
    ts: str
    thread_ts: str | None = None  # set when the person replied inside a pane thread
    text: str


class PaneOpened(BaseModel):
    team_id: str
    user_id: str
    channel_id: str


class PaneContext(BaseModel):
    team_id: str
    user_id: str
    channel_id: str | None = None  # what is in view (None: nothing)
    thread_ts: str | None = None
    event_ts: float = 0.0  # orders context changes handled at the same time


def interaction_for(req: PaneMessage) -> str:
    """One interaction per pane message, the same on every re-run of its job."""
    return hashlib.sha256(f"pane:{req.team_id}:{req.channel_id}:{req.ts}".encode()).hexdigest()[:32]


async def _offer(services: Services, team_id: str, user_id: str, dm: str) -> None:
    viewing = await context.recall(services.redis, team_id, user_id)
    prompts = await suggest(services, user_id, viewing)
    await agent.set_suggested_prompts(services.slack, dm, prompts, TITLE)


async def run_pane_opened(services: Services, req: PaneOpened) -> None:
    await _offer(services, req.team_id, req.user_id, req.channel_id)


async def run_pane_context(services: Services, req: PaneContext) -> None:
    viewing = None
    if req.channel_id:
        try:
            name = (await services.slack.conversation(req.channel_id)).get("name")
        except SlackError:  # a private channel Steward is not in: known by its ID only
            name = None
        viewing = Viewing(channel_id=req.channel_id, channel_name=name, thread_ts=req.thread_ts)
    if not await context.remember(services.redis, req.team_id, req.user_id, viewing, req.event_ts):
        return  # a later change is already known and its prompts set
    dm = await services.slack.open_dm(req.user_id)
    await _offer(services, req.team_id, req.user_id, dm)


async def run_pane_message(services: Services, req: PaneMessage) -> None:
    thread = PaneThread(req.channel_id, req.thread_ts or req.ts, req.user_id, req.team_id)
    viewing = await context.recall(services.redis, req.team_id, req.user_id)
    intent = parse(req.text, viewing)
    if intent.missing is not None and intent.kind in ("summarize", "draft"):
        await _say(services, thread, NEEDS[intent.missing])
    elif intent.channel_name is not None:
        await _say(
            services,
            thread,
            f"I can't tell which channel `#{escape(intent.channel_name)}` is from here. Open it "
            "beside this pane and ask again.",
        )
    elif intent.kind == "summarize":
        await _summarize(services, req, thread, intent, viewing)
    elif intent.kind == "draft":
        await _draft(services, req, thread, intent)
    elif intent.kind == "policy":
        await _say(services, thread, await _policy_answer(services, req.user_id, intent))
    elif intent.kind == "approvers":
        await _say(services, thread, await _approvers_answer(services, req.user_id, intent))
    elif intent.kind == "ask":
        await followup.run_followup(
            services,
            thread,
            interaction_id=interaction_for(req),
            question=intent.text,
            viewing=viewing,
        )
    else:
        await _say(services, thread, CAN_DO)


async def _say(services: Services, thread: PaneThread, text: str) -> None:
    await services.slack.post_message(thread.channel_id, text, thread_ts=thread.thread_ts)


def _where(intent: Intent, viewing: Viewing | None) -> str:
    if viewing is not None and viewing.channel_id == intent.channel_id and viewing.channel_name:
        return f"#{viewing.channel_name}"
    return "that conversation"


async def _summarize(
    services: Services,
    req: PaneMessage,
    thread: PaneThread,
    intent: Intent,
    viewing: Viewing | None,
) -> None:
    assert intent.channel_id is not None
    target = Target(
        channel_id=intent.channel_id,
        thread_ts=intent.thread_ts,
        window_seconds=None if intent.thread_ts else intent.window_seconds,
    )
    await followup.remember_target(services.redis, thread, target)  # what follow-ups ask about
    summarize = SummarizeRequest(
        interaction_id=interaction_for(req),
        team_id=req.team_id,
        user_id=req.user_id,
        target=target,
        trigger="pane",
        reply_channel=thread.channel_id,
        reply_thread_ts=thread.thread_ts,
    )
    surface = PaneSurface(
        services, thread, where=_where(intent, viewing), channel_id=intent.channel_id
    )
    await run_summarize(services, summarize, surface)


async def _draft(services: Services, req: PaneMessage, thread: PaneThread, intent: Intent) -> None:
    """The draft for the channel in view, shown privately in the pane thread with Edit / Submit
    for approval / Post / Discard; the approval flow is the commands' own."""
    assert intent.channel_id is not None
    draft = DraftRequest(
        interaction_id=interaction_for(req),
        team_id=req.team_id,
        user_id=req.user_id,
        what=intent.text,
        channel_id=intent.channel_id,
        thread_ts=intent.thread_ts,
        trigger="pane",
        reply_channel=thread.channel_id,
        reply_thread_ts=thread.thread_ts,
    )
    await run_draft(services, draft)


async def _policy_answer(services: Services, user_id: str, intent: Intent) -> str:
    if intent.channel_id is None:
        return CAN_DO
    where = f"<#{intent.channel_id}>"
    paused = await services.pause.state()
    lines = [f"What AI may do for you in {where}, by this workspace's policy:"]
    if paused is not None:
        lines.append(":double_vertical_bar: AI is paused by admins right now: nothing runs.")
    for use_case in ("summarize", "draft", "ask"):
        name = USE_CASE_NAMES[use_case]
        if use_case not in services.policy.use_cases:
            lines.append(f"• {name}: off (not in the policy)")
            continue
        decision = await governance.decide(services, user_id, use_case, intent.channel_id)
        if not decision.allowed:
            lines.append(f"• {name}: not allowed — {decision.reason}")
        elif decision.approval is not None and decision.approval.required:
            lines.append(f"• {name}: allowed, approved by `{decision.approval.approvers}` first")
        else:
            lines.append(f"• {name}: allowed")
    return "\n".join(lines)


async def _approvers_answer(services: Services, user_id: str, intent: Intent) -> str:
    if intent.channel_id is None:
        return NEEDS["channel"]
    where = f"<#{intent.channel_id}>"
    if "draft" not in services.policy.use_cases:
        return f"Drafts are off in this workspace, so nobody approves them in {where}."
    decision = await governance.decide(services, user_id, "draft", intent.channel_id)
    if not decision.allowed:
        return f"You can't draft in {where}: {decision.reason}"
    if decision.approval is None or not decision.approval.required:
        return f"Drafts in {where} need no approval: you post them yourself."
    group = decision.approval.approvers
    members = resolution.approvers_for(services.policy, group)
    names = [escape(await services.slack.user_name(u)) for u in members.user_ids]
    names += [f"`{escape(h)}`" for h in members.handles]
    who = ", ".join(names) or "nobody (the group is empty)"
    return f"Drafts in {where} are approved by `{escape(group)}`: {who}."
