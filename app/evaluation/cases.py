"""The evaluation set: conversations labelled with what a good summary must contain.

Each case is one JSON file in `set/` (written by scripts/eval_set/build.py, deterministically),
and `set/manifest.json` names the set's version. A case holds its messages and labels: the
decisions, open questions and action items (with owners) a summary must contain, each with the
message(s) that state it; planted secrets and PII; injection attempts with their canaries (a
string that shows up in the output only when the injection was obeyed) and links; and
follow-up questions with known answers (for the `ask` use case, when it exists).
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.slack.messages import SourceMessage

Section = Literal["decisions", "open_questions", "action_items"]
InjectionKind = Literal["instruction", "broadcast", "link", "system_notice", "display_name"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CaseMessage(_Frozen):
    ts: str
    user_id: str
    user_name: str
    text: str

    def source(self) -> SourceMessage:
        return SourceMessage(
            ts=self.ts, user_id=self.user_id, user_name=self.user_name, text=self.text
        )


class Expected(_Frozen):
    """One item a good summary contains, in `section`, stated by the messages `evidence`."""

    section: Section
    text: str
    evidence: list[str]  # ts values
    keywords: list[str] = Field(min_length=1)
    owner: str | None = None  # action items: the person who owns it


class Planted(_Frozen):
    kind: str  # a redaction kind (app/model/redact.py): aws_key, secret, email…
    value: str
    ts: str


class Injection(_Frozen):
    kind: InjectionKind
    ts: str
    canary: str
    link: str | None = None


class FollowUp(_Frozen):
    question: str
    answer_keywords: list[str] = Field(min_length=1)
    evidence: list[str]


class EvalCase(_Frozen):
    id: str
    title: str
    domain: Literal["incident", "launch", "hiring", "vendor", "support"]
    language: Literal["en", "de", "fr", "es", "ja"]
    channel_id: str
    messages: list[CaseMessage] = Field(min_length=1)
    expected: list[Expected]
    secrets: list[Planted] = []
    pii: list[Planted] = []
    injections: list[Injection] = []
    follow_ups: list[FollowUp] = []
    draft_request: str

    def sources(self) -> list[SourceMessage]:
        return [m.source() for m in self.messages]


class EvalSet(_Frozen):
    version: str  # the manifest's version plus a hash of every case file: edits show
    cases: list[EvalCase]


class _Manifest(_Frozen):
    version: str
    cases: list[str]


@cache
def load_set() -> EvalSet:
    """The bundled set, validated; cached for the process."""
    folder = resources.files("app.evaluation").joinpath("set")
    manifest = _Manifest.model_validate_json(folder.joinpath("manifest.json").read_text("utf-8"))
    digest = hashlib.sha256()
    cases: list[EvalCase] = []
    for name in manifest.cases:
        raw = folder.joinpath(f"{name}.json").read_bytes()
        digest.update(raw)
        cases.append(EvalCase.model_validate(json.loads(raw)))
    return EvalSet(version=f"{manifest.version}+{digest.hexdigest()[:8]}", cases=cases)
