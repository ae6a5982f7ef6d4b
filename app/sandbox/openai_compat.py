"""A loopback OpenAI-compatible Chat Completions server, for tests, benches and the demo.

It answers `POST /v1/chat/completions` the way the OpenAI API does (response shape, usage,
logprobs, 429 + Retry-After, 5xx), records every request it receives so tests can assert on
exactly what left Steward for the model, and can be made slow or faulty on demand.

Its "model" is deterministic and honest: it reads the delimited message block (or the partial
summaries of a reduce step) and answers a JSON summary whose points quote the messages they
cite, so grounding and citations can be checked end to end.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from aiohttp import web

from app.tokens import count_tokens

MARK = "\u02c6"
_MSG_RE = re.compile(r'^<<msg id=(M\d+) author="([^"]*)">>\s?(.*)$')
_PART_RE = re.compile(r"^<<part \d+>>\s(.*)$")
_DECISION = re.compile(r"\b(decid|decision|agreed|we'll go with|approved|final)", re.I)
_ACTION = re.compile(r"\b(I'll|I will|will do|can you|todo|owner|by (mon|tue|wed|thu|fri))", re.I)


@dataclass
class ModelRequest:
    model: str
    messages: list[dict[str, Any]]
    at: float

    @property
    def system(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages if m["role"] == "system")

    @property
    def user(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages if m["role"] == "user")

    @property
    def is_reduce(self) -> bool:
        return "<<partial_summaries>>" in self.user

    @property
    def message_ids(self) -> list[str]:
        return [m.group(1) for line in self.user.splitlines() if (m := _MSG_RE.match(line))]

    @cached_property
    def prompt_tokens(self) -> int:
        return sum(count_tokens(str(m.get("content", ""))) for m in self.messages)


@dataclass
class ModelServer:
    """`async with ModelServer() as model:` then point OPENAI_BASE_URL at `model.url`."""

    latency: float = 0.0  # seconds each call takes
    # Appended to every gist: plays a model that was talked into obeying an injection.
    compromised_gist_suffix: str = ""
    requests: list[ModelRequest] = field(default_factory=list)
    _failures: list[tuple[int, int]] = field(default_factory=list)  # (status, retry_after)
    _runner: web.AppRunner | None = None
    url: str = ""

    def fail_next(self, times: int = 1, status: int = 500, retry_after: int = 0) -> None:
        self._failures.extend([(status, retry_after)] * times)

    async def __aenter__(self) -> ModelServer:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.add_routes([web.post("/v1/chat/completions", self._complete)])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/v1"
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def tokens_received(self) -> int:
        return sum(r.prompt_tokens for r in self.requests)

    async def _complete(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self._failures:
            status, retry_after = self._failures.pop(0)
            headers = {"Retry-After": str(retry_after)} if retry_after else {}
            error = {"error": {"message": "injected failure", "type": "server_error"}}
            return web.json_response(error, status=status, headers=headers)
        record = ModelRequest(str(body.get("model")), list(body.get("messages", [])), time.time())
        self.requests.append(record)
        if self.latency:
            await asyncio.sleep(self.latency)
        answer = reduce_answer(record.user) if record.is_reduce else map_answer(record)
        answer["gist"] = (answer["gist"] + self.compromised_gist_suffix).strip()
        content = json.dumps(answer)
        return web.json_response(completion(record, content))


def _unmark(text: str) -> str:
    return text.replace(MARK, " ")


def _point(text: str, source: str, owner: str | None = None) -> dict[str, Any]:
    words = _unmark(text).split()
    point: dict[str, Any] = {"text": " ".join(words[:24]), "sources": [source]}
    if owner is not None:
        point["owner"] = owner
    return point


def map_answer(record: ModelRequest) -> dict[str, Any]:
    messages = [
        (m.group(1), _unmark(m.group(2)), m.group(3))
        for line in record.user.splitlines()
        if (m := _MSG_RE.match(line))
    ]
    if not messages:
        return {"gist": "", "decisions": [], "open_questions": [], "action_items": []}
    _, _, first_text = messages[0]
    return {
        "gist": " ".join(_unmark(first_text).split()[:20]),
        "decisions": [_point(t, i) for i, _, t in messages if _DECISION.search(_unmark(t))][:4],
        "open_questions": [_point(t, i) for i, _, t in messages if t.rstrip().endswith("?")][:4],
        "action_items": [_point(t, i, a) for i, a, t in messages if _ACTION.search(_unmark(t))][:4],
    }


def reduce_answer(user: str) -> dict[str, Any]:
    parts = [json.loads(m.group(1)) for line in user.splitlines() if (m := _PART_RE.match(line))]
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


def completion(record: ModelRequest, content: str) -> dict[str, Any]:
    words = content.split()
    return {
        "id": f"chatcmpl-{int(record.at * 1000)}",
        "object": "chat.completion",
        "created": int(record.at),
        "model": record.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": {
                    "content": [
                        {"token": w, "logprob": -0.05, "bytes": None, "top_logprobs": []}
                        for w in words[:200]
                    ]
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": record.prompt_tokens,
            "completion_tokens": count_tokens(content),
            "total_tokens": record.prompt_tokens + count_tokens(content),
        },
    }
