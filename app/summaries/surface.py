"""Where a summary's progress, refusals and result are shown: the `Surface` of a request.

Every trigger runs the same use case (`summarize.py`: policy, budget, redaction, model, audit);
only the place the person reads differs. Commands, shortcuts, mentions show privately
(`PrivateSurface`: one "Summarising N messages…" note, then the result as an ephemeral, kept for
a retried delivery by `app/slack/delivery.py`); the agent pane shows loading statuses and streams
the result into its thread (`app/pane/surface.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from app.runtime.services import Services
from app.slack import delivery
from app.slack.port import SlackError
from app.slack.reply import ReplyTo
from app.summaries.grounding import Confidence
from app.summaries.summary import Summary
from app.summaries.views import result_message

log = logging.getLogger(__name__)

Step = Literal["checking_policy", "reading", "redacting", "summarising"]


@dataclass(frozen=True)
class Progress:
    """What the use case is really doing now, with its count (messages, details, parts)."""

    step: Step
    count: int = 0


@dataclass(frozen=True)
class Finished:
    """A summary made, scored and audited: everything a surface needs to show it."""

    interaction_id: str
    summary: Summary
    confidence: Confidence
    links: Mapping[str, str | None]
    title: str
    span: str
    redactions: int


class Surface(Protocol):
    async def progress(self, progress: Progress) -> None:
        """Best effort: a progress note that does not get out never fails the request."""

    async def tell(self, text: str) -> None:
        """A refusal or a failure, in words."""

    async def show(self, finished: Finished) -> None:
        """The result; raises `SlackError` when it could not be shown (the job is retried)."""

    async def resume(self, interaction_id: str) -> bool:
        """True when this interaction's result was already made (shown again if it never got
        out): a re-run of the job then does nothing else."""


class PrivateSurface:
    """The requester alone sees it, beside where they asked (`AskedPrivately.reply_to`)."""

    def __init__(self, services: Services, to: ReplyTo) -> None:
        self.services = services
        self.to = to

    async def progress(self, progress: Progress) -> None:
        if progress.step != "reading":
            return
        text = f":hourglass_flowing_sand: Summarising {progress.count} messages…"
        try:
            await self.services.slack.tell(self.to, text)
        except SlackError as exc:
            log.info("progress note not shown", extra={"code": exc.code})

    async def tell(self, text: str) -> None:
        await self.services.slack.tell(self.to, text)

    async def show(self, finished: Finished) -> None:
        message = result_message(
            finished.summary,
            finished.confidence,
            finished.links,
            title=finished.title,
            interaction_id=finished.interaction_id,
            span=finished.span,
            redactions=finished.redactions,
        )
        await delivery.deliver(
            self.services.redis,
            self.services.slack,
            finished.interaction_id,
            self.to,
            message.text,
            message.blocks,
        )

    async def resume(self, interaction_id: str) -> bool:
        return await delivery.resume(self.services.redis, self.services.slack, interaction_id)
