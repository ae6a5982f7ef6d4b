"""The outcome of one question, typed, for whoever shows it (the ephemeral of `/steward ask`,
or the agent pane's stream): what to show, its citations and confidence, and how it ended."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from app.summaries.grounding import Confidence

Status = Literal["answered", "not_in_messages", "refused", "failed"]


class Citation(BaseModel):
    """A message the answer rests on: `[n]` in the text shown, linked to `permalink`."""

    model_config = ConfigDict(frozen=True)

    n: int
    ts: str
    permalink: str | None
    author: str


class AskResult(BaseModel):
    """How a question ended.

    * `answered` — `text` is the answer (sanitised mrkdwn), with `citations` and `confidence`;
    * `not_in_messages` — the messages don't say (`text` says so); `unsupported` when the model
      answered but grounding refused it;
    * `refused` — policy, pause, budget, limits or access (`text` is the refusal, `code` its
      audit reason);
    * `failed` — the model failed (`text` says what and what to do, `code` is `model: …`).

    For a stream, `streamed` is what the deltas showed, and `end_line`, when set, must be shown
    after it: the stream stopped midway, or what it showed was refused by grounding."""

    model_config = ConfigDict(frozen=True)

    interaction_id: str
    status: Status
    text: str
    question: str  # as asked (redacted when it went to a model); escape it to show it
    channel_id: str
    thread_ts: str | None = None
    citations: list[Citation] = []
    confidence: Confidence | None = None
    engine: str | None = None
    model: str | None = None
    code: str | None = None
    unsupported: bool = False
    read: int = 0  # messages read
    selected: int = 0  # of which sent to the model (all of them when they fit)
    redactions: int = 0
    streamed: str = ""
    end_line: str | None = None
