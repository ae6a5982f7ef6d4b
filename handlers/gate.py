"""The front gate of POST /slack/events: what every HTTP request passes before any work.

In order, each step cheap before the next and nothing read that need not be:

1. size: a `Content-Length` over `STEWARD_MAX_BODY_BYTES` is refused with 413 before a byte of
   the body is read; a body without one is read in chunks and refused once it goes over;
2. signature headers: a timestamp that is not a whole number is a 400, a missing or stale
   one (Slack's 5-minute window) a 401, still before the body is read;
3. signature: HMAC-SHA256 over the raw bytes (so a body that is not UTF-8 still fails cleanly);
4. shape: UTF-8, a content type that matches the body, JSON that is an object and not nested
   deeper than any Slack payload, a `payload` form field that is such JSON, and the fields the
   listeners read (`actions` a non-empty list, a message shortcut's `message`...);
5. workspace: only the workspace the bot token belongs to (auth.test's `team_id`) is served.

A refusal is an `Answer`: a status, a reason (the metric's label and the log line's), and the
text Slack shows, if any. Every refusal is counted and logged once, without the body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote_plus

from app.runtime import metrics

log = logging.getLogger(__name__)

REPLAY_WINDOW_S = 5 * 60  # Slack: reject a request whose timestamp is more than 5 minutes off
MAX_DEPTH = 32  # Slack's deepest payloads (a modal's state, rich text) nest about 10 levels
FORM = "application/x-www-form-urlencoded"
FOREIGN_TEXT = (
    "Steward isn't installed in this workspace, so it can't help here. "
    "Ask your Slack admin about installing it."
)
UNREADABLE_TEXT = "Steward couldn't read that request, so nothing was done."
_DIGITS = re.compile(r"[0-9]{1,12}")
_LENGTH = re.compile(r"[0-9]{1,20}")

Kind = Literal["command", "interaction", "event", "url_verification", "other"]


@dataclass(frozen=True)
class Answer:
    """A request refused (or answered) at the gate, before any work."""

    status: int
    reason: str
    text: str = ""


@dataclass(frozen=True)
class Arrived:
    """A verified, well-formed request from the installed workspace."""

    body: str
    content_type: str
    kind: Kind
    payload: dict[str, Any]  # a command's form fields, an interaction's payload, an event


class TooLarge(Exception):
    pass


async def read_limited(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The body, or TooLarge as soon as it exceeds `limit` bytes (a lying Content-Length, or
    none: chunked)."""
    received = bytearray()
    async for chunk in chunks:
        received += chunk
        if len(received) > limit:
            raise TooLarge
    return bytes(received)


def check_headers(headers: Mapping[str, str], now: float, limit: int) -> Answer | None:
    """Refuse before reading the body: too long a Content-Length, a bad signature header."""
    length = headers.get("content-length")
    if length is not None and not _LENGTH.fullmatch(length.strip()):
        return Answer(400, "content_length")
    if length is not None and int(length) > limit:
        return Answer(413, "too_large")
    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if timestamp is None or signature is None:
        return Answer(401, "signature")
    if not _DIGITS.fullmatch(timestamp):
        return Answer(400, "timestamp")
    if abs(now - int(timestamp)) > REPLAY_WINDOW_S:
        return Answer(401, "stale")
    return None


def signed(secret: str, raw: bytes, headers: Mapping[str, str]) -> bool:
    timestamp = headers.get("x-slack-request-timestamp", "")
    expected = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256)
    return hmac.compare_digest("v0=" + expected.hexdigest(), headers.get("x-slack-signature", ""))


def depth_of(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deeply `value` nests (iteratively, so no depth can overflow the stack); stops
    counting once past `limit`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def load_object(text: str) -> dict[str, Any] | Answer:
    """A JSON object not nested past MAX_DEPTH, or the refusal."""
    try:
        value = json.loads(text)
    except RecursionError:
        return Answer(400, "depth")
    except ValueError:
        return Answer(400, "json")
    if not isinstance(value, dict):
        return Answer(400, "shape")
    if depth_of(value) > MAX_DEPTH:
        return Answer(400, "depth")
    return value


def parse(body: str, content_type: str) -> Arrived | Answer:
    """What kind of Slack request `body` is, with its payload; or why it is not one."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json":
        loaded = load_object(body)
        if isinstance(loaded, Answer):
            return loaded
        kind: Kind = (
            "url_verification"
            if loaded.get("type") == "url_verification"
            else "event"
            if loaded.get("type") == "event_callback"
            else "other"
        )
        if kind == "event" and not isinstance(loaded.get("event"), dict):
            return Answer(400, "shape")
        return Arrived(body, content_type, kind, loaded)
    if media != FORM:
        return Answer(415, "content_type")
    form = parse_form(body, GATE_FIELDS)
    if "payload" in form:
        loaded = load_object(form["payload"])
        if isinstance(loaded, Answer):
            return loaded
        problem = interaction_problem(loaded)
        if problem:
            return Answer(400, problem)
        return Arrived(body, content_type, "interaction", loaded)
    if "command" in form:
        return Arrived(body, content_type, "command", form)
    if "ssl_check" in form:
        return Arrived(body, content_type, "other", form)
    return Answer(400, "shape")


# The form fields the gate reads; a worker's Bolt reads the rest from the queued raw body.
GATE_FIELDS = frozenset({"payload", "command", "ssl_check", "team_id"})


def parse_form(body: str, only: frozenset[str] | None = None) -> dict[str, str]:
    """A URL-encoded form's fields (the last value of a repeated name, blanks kept), as
    `urllib.parse.parse_qs` reads them but several times faster: only a part holding an escape
    (`%` or `+`) is decoded, and with `only`, only those fields' values (decoding is most of
    the cost: a command's `response_url` and `text` are escaped). It runs on every request
    before the answer, so it counts."""
    form: dict[str, str] = {}
    for pair in body.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if only is not None and name not in only:
            continue
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        form[name] = value
    return form


def interaction_problem(payload: dict[str, Any]) -> str | None:
    """The reason an interaction payload lacks what its listeners read, or None."""
    kind = payload.get("type")
    if not isinstance(kind, str):
        return "shape"
    if kind == "block_actions":
        actions = payload.get("actions")
        if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
            return "actions"
    if kind == "message_action":
        message, channel = payload.get("message"), payload.get("channel")
        if not isinstance(message, dict) or not isinstance(message.get("ts"), str):
            return "message"
        if not isinstance(channel, dict) or not isinstance(channel.get("id"), str):
            return "message"
    if kind in ("view_submission", "view_closed") and not isinstance(payload.get("view"), dict):
        return "view"
    return None


def team_of(payload: dict[str, Any]) -> str:
    """The workspace a payload comes from (a command's `team_id`, an event's `team_id`, an
    interaction's `team.id`, else its user's `team_id`)."""
    team = payload.get("team")
    if isinstance(team, dict) and team.get("id"):
        return str(team["id"])
    if payload.get("team_id"):
        return str(payload["team_id"])
    if isinstance(team, str) and team:
        return team
    user = payload.get("user")
    return str(user.get("team_id") or "") if isinstance(user, dict) else ""


class Gate:
    def __init__(
        self,
        signing_secret: str,
        max_body_bytes: int,
        installed_team: Callable[[], Awaitable[str | None]],
    ) -> None:
        self._secret = signing_secret
        self._limit = max_body_bytes
        self._installed_team = installed_team

    async def admit(
        self, headers: Mapping[str, str], chunks: AsyncIterator[bytes]
    ) -> Arrived | Answer:
        refused = check_headers(headers, time.time(), self._limit)
        if refused is not None:
            return refused
        try:
            raw = await read_limited(chunks, self._limit)
        except TooLarge:
            return Answer(413, "too_large")
        if not signed(self._secret, raw, headers):
            return Answer(401, "signature")
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            return Answer(400, "encoding")
        arrived = parse(body, headers.get("content-type", ""))
        if isinstance(arrived, Answer) or arrived.kind == "url_verification":
            return arrived
        return await self._workspace(arrived)

    async def _workspace(self, arrived: Arrived) -> Arrived | Answer:
        installed = await self._installed_team()
        if installed is None:
            return Answer(503, "workspace_unknown")
        if team_of(arrived.payload) != installed:
            # Answered 200 so Slack neither retries nor shows an error; a command says why.
            text = FOREIGN_TEXT if arrived.kind == "command" else ""
            return Answer(200, "foreign_workspace", text)
        return arrived


def record(answer: Answer, headers: Mapping[str, str]) -> None:
    """Count and log a refusal: one line, never the body."""
    metrics.REJECTED_REQUESTS.labels(reason=answer.reason).inc()
    log.warning(
        "slack request refused",
        extra={
            "reason": answer.reason,
            "status": answer.status,
            "content_length": (headers.get("content-length") or "")[:20],
            "content_type": (headers.get("content-type") or "")[:80],
        },
    )
