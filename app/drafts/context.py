"""A reply's thread as untrusted context: read as summaries read it (`app/slack/reading.py`),
then the parent and latest turns, redacted and delimited for the model.

A draft can never read (or send to the model) more than a summary of the same thread could:
the same access check, the same paginated fetch, the same redaction and datamarking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.governance.gate import Refusal
from app.model.datamark import render_untrusted
from app.model.redact import Redactor
from app.runtime.services import Services
from app.slack import reading
from app.slack.messages import SourceMessage

# A reply needs the thread's start and its latest turns, not all of a 2,000-message thread.
MAX_CONTEXT_MESSAGES = 40


async def read_thread(
    services: Services, team_id: str, user_id: str, channel_id: str, thread_ts: str
) -> list[SourceMessage]:
    """The thread's messages, parent first; raises governance.Refusal when it can't be read."""
    try:
        await reading.check_access(services.slack, channel_id, user_id)
        return await reading.read(services.slack, channel_id, thread_ts=thread_ts)
    except reading.Unreadable as exc:
        raise Refusal(exc.message, exc.code) from None


def recent_context(messages: Sequence[SourceMessage]) -> list[SourceMessage]:
    """The parent and the latest replies, within MAX_CONTEXT_MESSAGES."""
    if len(messages) <= MAX_CONTEXT_MESSAGES:
        return list(messages)
    return [messages[0], *messages[-(MAX_CONTEXT_MESSAGES - 1) :]]


@dataclass(frozen=True)
class UntrustedContext:
    """Redacted copies of the messages, their delimited datamarked block, and counts."""

    messages: list[SourceMessage]
    block: str
    redactions: dict[str, int]


def prepare(messages: Sequence[SourceMessage], redactor: Redactor | None) -> UntrustedContext:
    """Redact (with the request's redactor, so numbering is shared) and delimit the thread."""
    cleaned = redactor.redact_messages(messages) if redactor is not None else list(messages)
    rendered = render_untrusted(cleaned) if cleaned else None
    return UntrustedContext(
        messages=cleaned,
        block=rendered.text if rendered is not None else "",
        redactions=redactor.counts if redactor is not None else {},
    )
