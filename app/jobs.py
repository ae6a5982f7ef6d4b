"""Job kinds: the typed payload each one carries and the use case that runs it.

Handlers enqueue a kind with its payload model; a worker validates the payload back into that
model and calls the use case. Adding a feature means adding one entry to `KINDS`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from app import help as help_
from app.ask.ask import run_ask
from app.ask.request import AskRequest
from app.audit.admin import AuditExportRequest, run_audit_export
from app.audit.evidence_export import EvidenceExportRequest, run_evidence_export
from app.audit.feedback import FeedbackRequest, run_feedback
from app.audit.trace import WhyRequest, run_why
from app.commands import run_steward
from app.drafts.approvals import ApprovalAction, run_approval_action
from app.drafts.deadlines import TimerFired, run_approval_timer
from app.drafts.draft import (
    DraftAction,
    DraftEdit,
    DraftRequest,
    run_draft,
    run_draft_action,
    run_draft_edit,
)
from app.drafts.posting import PostCancel, PostRetry, run_post_cancel, run_post_retry
from app.governance.grant_expiry import GrantExpiry, run_grant_expiry
from app.governance.requests import GrantRevoke, UseCaseDecision, run_decision, run_revoke
from app.home import HomeRequest, run_home  # handlers/events.py imports HomeRequest from here
from app.pane.conversation import (
    PaneContext,
    PaneMessage,
    PaneOpened,
    run_pane_context,
    run_pane_message,
    run_pane_opened,
)
from app.runtime.inbox import KIND as SLACK_REQUEST
from app.runtime.inbox import SlackRequest
from app.runtime.queue import Job
from app.runtime.services import Services
from app.slack.reply import ReplyTo
from app.steward_command import StewardCommand
from app.summaries.summarize import ShareRequest, SummarizeRequest, run_share, run_summarize

log = logging.getLogger(__name__)


class HelpRequest(BaseModel):
    """Show someone the help message, privately, where they asked."""

    team_id: str
    user_id: str
    channel_id: str | None = None
    response_url: str | None = None
    thread_ts: str | None = None
    note: str | None = None


async def run_help(services: Services, req: HelpRequest) -> None:
    msg = help_.help_message(services.engine, req.note)
    await services.slack.tell(
        ReplyTo(
            user_id=req.user_id,
            channel_id=req.channel_id,
            response_url=req.response_url,
            thread_ts=req.thread_ts,
        ),
        msg.text,
        msg.blocks,
    )


class NoInbox(RuntimeError):
    """This process runs workers but cannot replay Slack requests (a wiring mistake)."""


async def run_replay(services: Services, request: SlackRequest) -> None:
    """A Slack request acknowledged before it was read (app/runtime/inbox.py): the listeners."""
    if services.inbox is None:
        raise NoInbox("this worker has no Slack listeners installed (handlers.inbox.install)")
    await services.inbox.replay(request)


@dataclass(frozen=True)
class Kind:
    model: type[BaseModel]
    run: Callable[[Services, Any], Awaitable[None]]


KINDS: dict[str, Kind] = {
    "help": Kind(HelpRequest, run_help),
    "steward": Kind(StewardCommand, run_steward),
    "home": Kind(HomeRequest, run_home),
    "summarize": Kind(SummarizeRequest, run_summarize),
    "share": Kind(ShareRequest, run_share),
    "ask": Kind(AskRequest, run_ask),
    "why": Kind(WhyRequest, run_why),
    "feedback": Kind(FeedbackRequest, run_feedback),
    "use_case_decision": Kind(UseCaseDecision, run_decision),
    "grant_revoke": Kind(GrantRevoke, run_revoke),
    "grant_expiry": Kind(GrantExpiry, run_grant_expiry),
    "draft": Kind(DraftRequest, run_draft),
    "draft_action": Kind(DraftAction, run_draft_action),
    "draft_edit": Kind(DraftEdit, run_draft_edit),
    "approval": Kind(ApprovalAction, run_approval_action),
    "approval_timer": Kind(TimerFired, run_approval_timer),
    "post_retry": Kind(PostRetry, run_post_retry),
    "post_cancel": Kind(PostCancel, run_post_cancel),
    "audit_export": Kind(AuditExportRequest, run_audit_export),
    "evidence_export": Kind(EvidenceExportRequest, run_evidence_export),
    "pane_opened": Kind(PaneOpened, run_pane_opened),
    "pane_context": Kind(PaneContext, run_pane_context),
    "pane_message": Kind(PaneMessage, run_pane_message),
    SLACK_REQUEST: Kind(SlackRequest, run_replay),
}


def kind_of(payload: BaseModel) -> str:
    for name, kind in KINDS.items():
        if isinstance(payload, kind.model):
            return name
    raise KeyError(f"no job kind takes {type(payload).__name__}")


async def dispatch(services: Services, job: Job) -> None:
    kind = KINDS.get(job.kind)
    if kind is None:
        raise KeyError(f"unknown job kind {job.kind!r}")
    await kind.run(services, kind.model.model_validate(job.payload))


async def tell_dead(services: Services, job: Job, error: str) -> None:
    """A job gave up for good: the person who asked must hear about it, not wait forever."""
    notify = job.notify
    if notify is None and job.kind == SLACK_REQUEST and services.inbox is not None:
        notify = services.inbox.notify_of(SlackRequest.model_validate(job.payload))
    if notify is None:
        return
    text = (
        ":warning: Sorry — Steward could not finish your request after several tries "
        f"(reference `{job.id[:12]}`). Please try again later; the operators can see what failed."
    )
    await services.slack.tell(ReplyTo.of(notify), text)
