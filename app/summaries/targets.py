"""What to summarise: a thread, or a channel over a window. Parsed from what people type."""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import BaseModel

from app.governance.durations import parse_duration
from app.governance.gate import Refusal
from app.slack import reading
from app.slack.messages import SourceMessage
from app.slack.port import SlackPort

DEFAULT_WINDOW = timedelta(hours=24)
MAX_WINDOW = timedelta(days=90)

USAGE = (
    "Usage: `/summarize` (this channel, last 24 h) · `/summarize 3d` · `/summarize 6h` · "
    "`/summarize #channel 2d` · `/summarize <thread link>`"
)

# https://acme.slack.com/archives/C0123/p1732460000000100?thread_ts=1732459000.000100&cid=C0123
PERMALINK = re.compile(
    r"https?://[\w.-]+/archives/(?P<channel>[CGD][A-Z0-9]+)/p(?P<secs>\d{10})(?P<micros>\d{6})"
    r"(?:\?[^\s>|]*?thread_ts=(?P<thread>\d{10}\.\d{6}))?"
)
CHANNEL_REF = re.compile(r"^<#(?P<id>[CG][A-Z0-9]+)(?:\|[^>]*)?>$")


class Target(BaseModel):
    """A conversation to summarise: a thread (`thread_ts`) or a channel's recent history."""

    channel_id: str
    thread_ts: str | None = None
    window_seconds: int | None = None  # channel history only

    @property
    def is_thread(self) -> bool:
        return self.thread_ts is not None


class TargetError(ValueError):
    """The words did not name something to summarise; the message says what was wrong."""


def find_permalink(text: str) -> Target | None:
    """The thread a Slack message link points to (its thread, if the link is to a reply)."""
    match = PERMALINK.search(text)
    if match is None:
        return None
    ts = f"{match['secs']}.{match['micros']}"
    return Target(channel_id=match["channel"], thread_ts=match["thread"] or ts)


def parse_summarize_args(text: str, current_channel: str) -> Target:
    """`/summarize` arguments: [#channel] [window] or a thread permalink. Raises TargetError."""
    words = text.strip().strip("<>").split() if PERMALINK.search(text) else text.split()
    link = find_permalink(text)
    if link is not None:
        if len(words) > 1:
            raise TargetError("A thread link takes no other arguments.")
        return link
    channel = current_channel
    window: timedelta | None = None
    for word in words:
        ref = CHANNEL_REF.match(word)
        if ref is not None and channel == current_channel:
            channel = ref["id"]
            continue
        if window is None:
            window = _window(word)
            continue
        raise TargetError(f"I don't understand `{word[:40]}`.")
    seconds = int((window or DEFAULT_WINDOW).total_seconds())
    return Target(channel_id=channel, window_seconds=seconds)


def _window(word: str) -> timedelta:
    if word.startswith("#"):
        raise TargetError(f"I can't find the channel `{word[:40]}`; pick it from the list.")
    try:
        window = parse_duration(word)
    except ValueError:
        raise TargetError(f"I don't understand `{word[:40]}`.") from None
    if window <= timedelta(0) or window > MAX_WINDOW:
        raise TargetError("The window must be between 1 minute and 90 days.")
    return window


async def read_target(slack: SlackPort, target: Target, nothing_there: str) -> list[SourceMessage]:
    """The target's messages; a Refusal (with `nothing_there` when it holds none) when they
    cannot be read."""
    try:
        messages = await reading.read(
            slack,
            target.channel_id,
            thread_ts=target.thread_ts,
            window_seconds=target.window_seconds,
        )
    except reading.Unreadable as exc:
        raise Refusal(exc.message, exc.code) from None
    if not messages:
        raise Refusal(nothing_there, "empty")
    return messages
