"""What a person typed into the agent pane, mapped to one of Steward's use cases, without a model.

The parser is small and deterministic on purpose: the model never chooses what runs, so the
same words always start the same use case under the same policy, and anything unclear gets the
list of what Steward can do — never a guess that runs a use case.

Recognised (case-insensitive, British or American spelling):

- summaries — "summarise this channel", "summarize #launch", "what happened in #launch this
  week?", "catch me up", "summarise this thread", "summarise <thread link>", with an optional
  window ("since yesterday", "today", "this week", "last 3 days", "6h");
- drafts — "draft a reply saying we ship Tuesday", "draft: …", "help me write …";
- "who approves drafts here?" (approvers) and "what may AI do in #launch?" (policy);
- any other question is a follow-up question (`ask`); "help", greetings and the rest: help.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal, NamedTuple

from pydantic import BaseModel

from app.governance.durations import parse_duration
from app.summaries.targets import DEFAULT_WINDOW, MAX_WINDOW, PERMALINK, find_permalink

IntentKind = Literal["summarize", "draft", "policy", "approvers", "ask", "help"]
Missing = Literal["channel", "thread", "content"]


class Viewing(BaseModel):
    """What the person has open beside the pane (from `app_context_changed`)."""

    channel_id: str
    channel_name: str | None = None
    thread_ts: str | None = None


class Intent(BaseModel):
    kind: IntentKind
    channel_id: str | None = None
    channel_name: str | None = None  # "#launch" typed by name and not the channel in view
    thread_ts: str | None = None
    window_seconds: int | None = None
    text: str = ""  # a draft's content or the question asked
    missing: Missing | None = None  # what the person still has to say


CHANNEL_ID = re.compile(r"<#(?P<id>[CG][A-Z0-9]+)(?:\|(?P<name>[^>]*))?>")
CHANNEL_NAME = re.compile(r"(?<![\w<])#(?P<name>[a-z0-9][a-z0-9_-]{0,79})")
SUMMARY_WORDS = re.compile(
    r"\b(summari[sz]e|summary|sum up|recap|tl;?dr|catch me up|what did i miss|"
    r"what(?:'s| has)? happened)\b"
)
DRAFT_START = re.compile(
    r"^(?:please\s+)?(?:draft|write|compose|help me (?:write|reply|draft))\b"
    r"(?:\s+(?:me\s+)?(?:a|an|the)?\s*(?:reply|message|response|post|answer|note)\b)?"
    r"(?:\s+(?:to|in|for)\s+(?:<#[^>]+>|#[\w-]+|this (?:thread|channel)|here|them|everyone))?"
    r"\s*(?:saying|that says|to say|telling them|that|:|,)?\s*",
)
APPROVERS = re.compile(r"\bwho\b.*\b(approves?|signs? off|can approve|must approve|approvers?)\b")
POLICY = re.compile(
    r"\bwhat\b.*\b(may|can|is|are)\b.*\b(ai|steward|you)\b.*\b(do|allowed|used)\b|"
    r"\bwhat(?:'s| is) allowed\b|\bis ai allowed\b"
)
HELP = re.compile(r"^(help|\?|hi|hello|hey|what can you do\??|commands|menu)[.!?]*$")
QUESTION_START = re.compile(
    r"^(who|what|when|where|why|how|which|did|does|do|is|are|was|were|can|could|should|will)\b"
)
THIS_THREAD = re.compile(r"\bthis thread\b")
THIS_CHANNEL = re.compile(r"\b(this channel|this conversation|here|in here)\b")
WINDOW_NUMBER = re.compile(
    r"\b(?:last|past|previous)\s+(?P<n>\d{1,3})\s*(?P<unit>minutes?|mins?|hours?|hrs?|days?|weeks?)\b"
)
WINDOW_TOKEN = re.compile(r"(?<![\w/.])(?P<token>\d{1,3}[mhdw])\b")
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse(text: str, viewing: Viewing | None = None) -> Intent:
    """The intent of one pane message. Pure: the same words and view give the same intent."""
    original = " ".join(text.split())
    words = original.lower()
    if APPROVERS.search(words):
        return Intent(kind="approvers", **_channel(original, words, viewing)._asdict())
    if POLICY.search(words):
        return Intent(kind="policy", **_channel(original, words, viewing)._asdict())
    draft = DRAFT_START.match(words)
    if draft is not None:
        return _draft(original, words, draft.end(), viewing)
    link = find_permalink(original)
    if SUMMARY_WORDS.search(words) or (link is not None and _only_link(original)):
        return _summary(original, words, viewing)
    if HELP.match(words) or not words:
        return Intent(kind="help")
    if words.endswith("?") or QUESTION_START.match(words):
        return Intent(kind="ask", text=original[:2000])
    return Intent(kind="help")


def _only_link(text: str) -> bool:
    return PERMALINK.sub("", text).strip(" <>") == ""


class Where(NamedTuple):
    channel_id: str | None = None
    channel_name: str | None = None

    def __bool__(self) -> bool:
        return bool(self.channel_id or self.channel_name)


def _channel(original: str, words: str, viewing: Viewing | None) -> Where:
    """The channel named in the words, else the one in view; empty when neither."""
    ref = CHANNEL_ID.search(original)
    if ref is not None:
        return Where(channel_id=ref["id"])
    named = CHANNEL_NAME.search(words)
    if named is not None:
        name = named["name"]
        if viewing is not None and viewing.channel_name == name:
            return Where(channel_id=viewing.channel_id)
        return Where(channel_name=name)
    if viewing is not None:
        return Where(channel_id=viewing.channel_id)
    return Where()


def _summary(original: str, words: str, viewing: Viewing | None) -> Intent:
    link = find_permalink(original)
    if link is not None:
        return Intent(kind="summarize", channel_id=link.channel_id, thread_ts=link.thread_ts)
    if THIS_THREAD.search(words):
        if viewing is None or viewing.thread_ts is None:
            return Intent(kind="summarize", missing="thread")
        return Intent(kind="summarize", channel_id=viewing.channel_id, thread_ts=viewing.thread_ts)
    where = _channel(original, words, viewing)
    if not where:
        return Intent(kind="summarize", missing="channel")
    return Intent(kind="summarize", window_seconds=_window_seconds(words), **where._asdict())


def _window_seconds(words: str) -> int:
    """The window the words ask for, within 90 days; the last 24 h when they name none."""
    window = DEFAULT_WINDOW
    number = WINDOW_NUMBER.search(words)
    token = WINDOW_TOKEN.search(words)
    if number is not None:
        unit = number["unit"][0]
        window = timedelta(seconds=int(number["n"]) * UNIT_SECONDS[unit])
    elif token is not None:
        window = parse_duration(token["token"])
    elif re.search(r"\b(this|past|last) week\b", words):
        window = timedelta(days=7)
    elif re.search(r"\b(since )?yesterday\b", words):
        window = timedelta(days=2)  # since the start of yesterday, at most two days back
    window = min(max(window, timedelta(minutes=1)), MAX_WINDOW)
    return int(window.total_seconds())


def _draft(original: str, words: str, end: int, viewing: Viewing | None) -> Intent:
    # The words matched on the lower-cased text; their length is the same in the original.
    content = original[end:].strip().strip("\"'“”").strip()
    where = _channel(original[:end], words[:end], viewing)
    if not content:
        return Intent(kind="draft", missing="content", **where._asdict())
    if not where:
        return Intent(kind="draft", text=content[:2000], missing="channel")
    thread = viewing.thread_ts if viewing and where.channel_id == viewing.channel_id else None
    return Intent(kind="draft", text=content[:2000], thread_ts=thread, **where._asdict())
