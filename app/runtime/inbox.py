"""Slack requests acknowledged before they were read: the HTTP inbox.

Slack wants an answer within 3 seconds, and under a burst every millisecond spent before the
answer is a millisecond every later request waits. So `steward serve` checks a slash command's or
event's signature, puts the raw request on the job queue as a `SlackRequest` and answers 200
straight away; a worker then hands it to the same Bolt listeners a synchronous request would
have reached (handlers/inbox.py), which queue the real job. What the listener would have said in
its acknowledgement (a usage hint, say) goes to the person through the command's response_url,
and the job it queues runs in that same worker (one hop).

Interactivity (clicks, shortcuts, modal submissions) is not deferred: a modal's answer
(`response_action`) only counts in the HTTP response, and a click's trigger_id expires in 3 s.

This module is the app side: the job's payload and the listeners' interface (the job kind is
in app/jobs.py). It knows nothing of Bolt; the process that runs workers installs a
`SlackInbox` (handlers/inbox.py) that does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel

from app.slack.reply import ReplyTo

KIND = "slack_request"


class SlackRequest(BaseModel):
    """A verified Slack request as it arrived: the body and the headers the listeners read."""

    body: str
    content_type: str
    retry_num: str | None = None
    retry_reason: str | None = None
    received_at: float

    def headers(self) -> dict[str, str | Sequence[str]]:
        headers: dict[str, str | Sequence[str]] = {"content-type": self.content_type}
        if self.retry_num is not None:
            headers["x-slack-retry-num"] = self.retry_num
        if self.retry_reason is not None:
            headers["x-slack-retry-reason"] = self.retry_reason
        return headers


class SlackInbox(Protocol):
    async def replay(self, request: SlackRequest) -> None:
        """Run the listeners on `request`; raise if it must be tried again."""

    def notify_of(self, request: SlackRequest) -> ReplyTo | None:
        """Who to tell if `request` can never be processed."""
