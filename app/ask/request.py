"""What a person asks: `/steward ask <thread link | #channel [window]> <question>`, parsed into
the conversation (a summaries `Target`) and the question; the typed request the job carries."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Literal

from pydantic import Field

from app.governance.durations import parse_duration
from app.slack.reply import AskedPrivately
from app.summaries.targets import (
    CHANNEL_REF,
    DEFAULT_WINDOW,
    MAX_WINDOW,
    PERMALINK,
    Target,
    TargetError,
    find_permalink,
)

MAX_QUESTION_CHARS = 1000
USAGE = (
    "Usage: `/steward ask <thread link> <question>` · `/steward ask #channel [3d] <question>` · "
    "`/steward ask <question>` (this channel, last 24 h)"
)
Trigger = Literal["command", "pane"]


class AskRequest(AskedPrivately):
    """One question about one conversation, answered privately to whoever asked."""

    interaction_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    team_id: str
    target: Target
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    trigger: Trigger = "command"


def parse_ask_args(text: str, current_channel: str) -> tuple[Target, str]:
    """(the conversation, the question). Raises TargetError with what was wrong."""
    first, _, rest = text.strip().partition(" ")
    target: Target
    if PERMALINK.search(first):
        link = find_permalink(first)
        assert link is not None
        target, question = link, rest
    elif CHANNEL_REF.match(first):
        channel = CHANNEL_REF.match(first)
        assert channel is not None
        window, question = _window_then(rest)
        target = Target(channel_id=channel["id"], window_seconds=int(window.total_seconds()))
    elif first.startswith("#"):
        raise TargetError(f"I can't find the channel `{first[:40]}`; pick it from the list.")
    else:
        window = DEFAULT_WINDOW
        target = Target(channel_id=current_channel, window_seconds=int(window.total_seconds()))
        question = text
    question = " ".join(question.split())
    if not question:
        raise TargetError("Ask a question after the thread link or the channel.")
    if len(question) > MAX_QUESTION_CHARS:
        raise TargetError(f"A question can be at most {MAX_QUESTION_CHARS} characters.")
    return target, question


def _window_then(text: str) -> tuple[timedelta, str]:
    """An optional window (`3d`) before the question."""
    word, _, rest = text.strip().partition(" ")
    try:
        window = parse_duration(word)
    except ValueError:
        return DEFAULT_WINDOW, text
    if window <= timedelta(0) or window > MAX_WINDOW:
        raise TargetError("The window must be between 1 minute and 90 days.")
    return window, rest
