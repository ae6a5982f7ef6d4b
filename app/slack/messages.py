"""The shared input model: one Slack message as the core sees it.

The Slack fetch layer builds these; everything downstream (redaction, chunking, prompts, the
offline engine, grounding) reads only this shape, so none of it needs a Slack SDK.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SourceMessage:
    """A message read from Slack. `ts` is Slack's message timestamp, its id within a channel."""

    ts: str
    user_id: str | None
    user_name: str
    text: str
    permalink: str | None = None
    thread_ts: str | None = None


def ts_order_key(ts: str) -> tuple[int, int, str]:
    """Chronological sort key for Slack ts strings ("1712345678.000200").

    Plain string order breaks when the seconds part changes length; anything unparsable sorts
    last, by its text, so a bad value never raises.
    """
    seconds, _, micros = ts.partition(".")
    if seconds.isdigit() and (micros.isdigit() or not micros):
        return int(seconds), int(micros.ljust(6, "0")[:6] or 0), ""
    return 1 << 62, 0, ts
