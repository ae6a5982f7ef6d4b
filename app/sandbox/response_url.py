"""``POST /response/{id}``: the ``response_url`` Slack gives with commands and interactions.

Semantics follow Slack: ephemeral to the user by default, ``response_type: in_channel`` posts
a visible message, ``replace_original`` edits the message the interaction came from and
``delete_original`` removes it. Every use is recorded as a call named ``response_url``, and a fault
armed for ``response_url`` (``faults.py``) fires before the URL is used, so a faulted attempt
does not spend one of its uses.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .blockkit import MAX_TEXT, blocks_too_long, message_block_errors
from .faults import Fault, Faults
from .interactions import Interactions, ResponseTarget
from .recorder import Recorder
from .workspace import Workspace

JsonDict = dict[str, Any]


class ResponseUrls:
    """Handler for response URLs issued by :class:`~app.sandbox.interactions.Interactions`."""

    def __init__(
        self,
        workspace: Workspace,
        interactions: Interactions,
        recorder: Recorder,
        faults: Faults | None = None,
    ):
        self.workspace = workspace
        self.interactions = interactions
        self.recorder = recorder
        self.faults = faults or Faults()

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/response/{id}", self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        fault = self.faults.take("response_url", {"id": request.match_info["id"]})
        if fault is not None and fault.kind in ("ratelimit", "server_error", "error"):
            return _faulted(self.recorder, fault)
        target, error = self.interactions.use_response(request.match_info["id"])
        if target is None:
            return _answer(self.recorder, {}, {"ok": False, "error": error}, 404)
        try:
            body = await _body(request)
        except ValueError:
            return _answer(self.recorder, {}, {"ok": False, "error": "invalid_json"}, 400)
        problem = _problem(body)
        if problem:
            return _answer(self.recorder, body, {"ok": False, "error": problem}, 400)
        self._apply(target, body)
        return _answer(self.recorder, body, {"ok": True}, 200)

    def _apply(self, target: ResponseTarget, body: JsonDict) -> None:
        text = str(body.get("text") or "")
        blocks = list(body.get("blocks") or [])
        if body.get("delete_original"):
            self._delete_original(target)
        elif body.get("replace_original") and self._replace_original(target, text, blocks):
            return
        elif body.get("response_type") == "in_channel" and target.channel:
            thread_ts = body.get("thread_ts") or target.thread_ts
            self.workspace.add_message(
                target.channel, text, bot=True, thread_ts=thread_ts, blocks=blocks
            )
        elif target.channel:
            self.workspace.add_ephemeral(
                target.channel,
                target.user,
                text,
                blocks,
                thread_ts=body.get("thread_ts") or target.thread_ts,
                source="response_url",
            )

    def _delete_original(self, target: ResponseTarget) -> None:
        if target.ephemeral_id is not None:
            self.workspace.ephemerals[target.ephemeral_id - 1].deleted = True
            self.workspace.on_change()
        elif target.message_ts and target.channel:
            self.workspace.delete_message(target.channel, target.message_ts)

    def _replace_original(self, target: ResponseTarget, text: str, blocks: list[JsonDict]) -> bool:
        """Edit the source in place; False when there is nothing to replace."""
        if target.ephemeral_id is not None:
            ephemeral = self.workspace.ephemerals[target.ephemeral_id - 1]
            ephemeral.history.append({"text": ephemeral.text, "blocks": ephemeral.blocks})
            ephemeral.text, ephemeral.blocks = text, blocks
        elif target.message_ts and target.channel:
            channel = self.workspace.channels[target.channel]
            message = channel.by_ts.get(target.message_ts)
            if message is None:
                return False
            message.text, message.blocks = text, blocks
            message.edited = {"user": self.workspace.bot_user_id, "ts": self.workspace.next_ts()}
        else:
            return False
        self.workspace.on_change()
        return True


async def _body(request: web.Request) -> JsonDict:
    raw = await request.text()
    if request.content_type == "application/json" or raw.lstrip().startswith("{"):
        body = json.loads(raw or "{}")
    else:
        form = await request.post()
        body = json.loads(str(form.get("payload") or "{}"))
    if not isinstance(body, dict):
        raise ValueError("body must be an object")
    return body


def _problem(body: JsonDict) -> str | None:
    if len(str(body.get("text") or "")) > MAX_TEXT:
        return "msg_too_long"
    if "blocks" in body and message_block_errors(body["blocks"]):
        return "invalid_blocks"
    # The cumulative block-text limit is per message payload (Source: see
    # blockkit.MAX_BLOCKS_TEXT), so it applies to a message sent through response_url too.
    # (bolt-js#2867 reports respond() accepting one payload chat.postMessage rejected; Slack
    # documents no exemption, so the sandbox keeps the documented limit.)
    if "blocks" in body and blocks_too_long(body["blocks"]):
        return "msg_blocks_too_long"
    if not body.get("delete_original") and not body.get("text") and not body.get("blocks"):
        return "no_text"
    return None


def _faulted(recorder: Recorder, fault: Fault) -> web.Response:
    if fault.kind == "ratelimit":
        body: JsonDict = {"ok": False, "error": "ratelimited"}
        recorder.record("response_url", {}, body, 429)
        return web.json_response(body, status=429, headers={"Retry-After": str(fault.retry_after)})
    if fault.kind == "server_error":
        return _answer(recorder, {}, {"ok": False, "error": "internal_error"}, fault.status)
    return _answer(recorder, {}, {"ok": False, "error": fault.error}, 404)


def _answer(recorder: Recorder, args: JsonDict, body: JsonDict, status: int) -> web.Response:
    recorder.record("response_url", args, body, status)
    return web.json_response(body, status=status)
