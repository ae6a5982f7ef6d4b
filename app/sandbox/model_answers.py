"""What the loopback model answers, deterministically and honestly: it reads the delimited message
block (or the partial summaries of a reduce step, or a draft's request) and writes points that
quote the messages they cite, so grounding and citations can be checked end to end. Also the
response bodies OpenAI sends (completion, usage) and a request as it was recorded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from app.model.tokens import count_tokens

MARK = "\u02c6"
_MSG_RE = re.compile(r'^<<msg id=(M\d+) author="([^"]*)">>\s?(.*)$')
# Boundary-marked blocks (app/model/datamark.py): `<<messages k=KEY>>`, one `M7 Ana: text` a line.
_BLOCK_OPEN_RE = re.compile(r"^<<messages k=(\w+)>>$")
_LINE_RE = re.compile(r"^(M\d+) ([^:]*):\s?(.*)$")
_PART_RE = re.compile(r"^<<part \d+>>\s(.*)$")
_REQUEST_RE = re.compile(r"^<<request>>\s?(.*)$")
_DECISION = re.compile(r"\b(decid|decision|agreed|we'll go with|approved|final)", re.I)
_ACTION = re.compile(r"\b(I'll|I will|will do|can you|todo|owner|by (mon|tue|wed|thu|fri))", re.I)

GARBAGE = "Sure! Here's what I found :) the thread is mostly about things, let me know!!"
HTML_PAGE = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
    "</center><hr><center>nginx</center></body></html>"
)


@dataclass
class ModelRequest:
    model: str
    messages: list[dict[str, Any]]
    at: float
    body: dict[str, Any] = field(default_factory=dict)
    path: str = "/v1/chat/completions"
    deployment: str | None = None  # Azure: from the URL
    api_version: str | None = None  # Azure: the api-version query parameter
    api_key: str | None = None  # Azure's `api-key` header
    authorization: str | None = None  # OpenAI's `Authorization: Bearer …` header
    status: int = 200  # what the server answered

    @property
    def system(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages if m["role"] == "system")

    @property
    def user(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages if m["role"] == "user")

    @property
    def is_reduce(self) -> bool:
        return "<<partial_summaries" in self.user

    @property
    def is_draft(self) -> bool:
        return "<<request>>" in self.user

    @property
    def message_ids(self) -> list[str]:
        return [mid for mid, _, _ in message_lines(self.user)]

    @property
    def response_format(self) -> str | None:
        """The `response_format.type` asked for, or None."""
        fmt = self.body.get("response_format")
        return str(fmt.get("type")) if isinstance(fmt, dict) else None

    @property
    def schema(self) -> dict[str, Any] | None:
        fmt = self.body.get("response_format")
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
            return None
        schema = (fmt.get("json_schema") or {}).get("schema")
        return schema if isinstance(schema, dict) else None

    @property
    def params(self) -> set[str]:
        """The request's top-level parameters other than model and messages."""
        return set(self.body) - {"model", "messages"}

    @cached_property
    def prompt_tokens(self) -> int:
        return sum(count_tokens(str(m.get("content", ""))) for m in self.messages)


def message_lines(user: str) -> list[tuple[str, str, str]]:
    """(id, author, text) of each message line: datamarked `<<msg …>>` lines anywhere, or the
    lines of a boundary-marked block, which ends only at the closing line with its own key."""
    out: list[tuple[str, str, str]] = []
    closing: str | None = None
    for line in user.splitlines():
        if closing is not None:
            if line == closing:
                closing = None
            elif m := _LINE_RE.match(line):
                out.append((m.group(1), m.group(2), m.group(3)))
        elif opening := _BLOCK_OPEN_RE.match(line):
            closing = f"<</messages k={opening.group(1)}>>"
        elif m := _MSG_RE.match(line):
            out.append((m.group(1), m.group(2), m.group(3)))
    return out


def _unmark(text: str) -> str:
    return text.replace(MARK, " ")


def _point(text: str, source: str, owner: str | None = None) -> dict[str, Any]:
    words = _unmark(text).split()
    point: dict[str, Any] = {"text": " ".join(words[:24]), "sources": [source]}
    if owner is not None:
        point["owner"] = owner
    return point


def map_answer(user: str) -> dict[str, Any]:
    messages = [(i, _unmark(a), t) for i, a, t in message_lines(user)]
    if not messages:
        return {"gist": "", "decisions": [], "open_questions": [], "action_items": []}
    _, _, first_text = messages[0]
    return {
        "gist": " ".join(_unmark(first_text).split()[:20]),
        "decisions": [_point(t, i) for i, _, t in messages if _DECISION.search(_unmark(t))][:4],
        "open_questions": [_point(t, i) for i, _, t in messages if t.rstrip().endswith("?")][:4],
        "action_items": [_point(t, i, a) for i, a, t in messages if _ACTION.search(_unmark(t))][:4],
    }


# What a model talked into obeying the data recognises as an instruction: imperative asks aimed
# at the assistant, fake system notices, broadcasts, in the languages of the evaluation set.
_INSTRUCTION = re.compile(
    r"ignore|disregard|assistant|system|summary bot|<!channel>|<!here>|must (?:start|include)"
    r"|ignoriere|assistent|ignorez?|résumé|ignora|asistente|resumen|無視|アシスタント|システム",
    re.I,
)
_CREDENTIAL = re.compile(r"password|token|\bkey\b|\[(?:SECRET|AWS_KEY|GITHUB_TOKEN)_\d+\]", re.I)


def obeyed(user: str) -> str:
    """What a gullible model adds to its answer: a broadcast ping, then every instruction it
    read (in a message or an author's name), links and canaries included, and any credential
    it was shown, repeated word for word."""
    taken: list[str] = []
    for _, author, text in message_lines(user):
        author, text = _unmark(author), _unmark(text)
        if _INSTRUCTION.search(author):
            taken.append(author)
        if _INSTRUCTION.search(text) or _CREDENTIAL.search(text):
            taken.append(text)
    return "<!channel> " + " ".join(taken) if taken else ""


def reduce_answer(user: str) -> dict[str, Any]:
    """The parts merged in order; newer messages after them (a merge that also reads the
    newest messages) are summarised as a last part."""
    parts = [json.loads(m.group(1)) for line in user.splitlines() if (m := _PART_RE.match(line))]
    if message_lines(user):
        parts.append(map_answer(user))
    merged: dict[str, Any] = {"gist": "", "decisions": [], "open_questions": [], "action_items": []}
    for part in parts:
        merged["gist"] = merged["gist"] or _unmark(part.get("gist", ""))
        for section in ("decisions", "open_questions", "action_items"):
            for point in part.get(section, []):
                point = {**point, "text": _unmark(point.get("text", ""))}
                if point.get("owner"):
                    point["owner"] = _unmark(point["owner"])
                merged[section].append(point)
    for section in ("decisions", "open_questions", "action_items"):
        merged[section] = merged[section][:6]
    return merged


def draft_answer(record: ModelRequest) -> dict[str, Any]:
    """A draft that says what was asked, in plain spaces (so it is grounded in the request)."""
    asked = next(
        (m.group(1) for line in record.user.splitlines() if (m := _REQUEST_RE.match(line))), ""
    )
    words = _unmark(asked).split()
    return {"draft": " ".join(words[:60]) or "[what you want to say]"}


def usage(record: ModelRequest, content: str, reasoning: bool = False) -> dict[str, Any]:
    out = count_tokens(content)
    report: dict[str, Any] = {
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": out,
        "total_tokens": record.prompt_tokens + out,
    }
    if reasoning:
        # Reasoning models guide: reasoning tokens are billed as output and reported here.
        report["completion_tokens_details"] = {"reasoning_tokens": 0}
    return report


def completion(record: ModelRequest, content: str, finish_reason: str = "stop") -> dict[str, Any]:
    words = content.split()
    # API reference, the chat completion object: `logprobs` is null unless requested.
    logprobs: dict[str, Any] | None = (
        {
            "content": [
                {"token": w, "logprob": -0.05, "bytes": None, "top_logprobs": []}
                for w in words[:200]
            ]
        }
        if record.body.get("logprobs")
        else None
    )
    reasoning = "max_completion_tokens" in record.body
    return {
        "id": f"chatcmpl-{int(record.at * 1000)}",
        "object": "chat.completion",
        "created": int(record.at),
        "model": record.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": logprobs,
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage(record, content, reasoning),
    }
