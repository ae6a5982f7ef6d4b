"""The HTTP face of the Web API: ``POST /api/{method}`` plus the file upload URL.

This layer does what Slack's edge does before a method runs — authentication, argument parsing
by the method's published encoding (``contract.py``: a JSON body is read only where Slack's spec
says so), the static scope check, injected faults — and records every call that reached a method.
Every answer to a bot-token call carries Slack's ``x-oauth-scopes`` header.
Method bodies are synchronous, so a call takes effect atomically once its fault delay is over;
a client that disconnects during the delay cancels the handler and the call never happens.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import api_assistant, api_chat, api_read, api_views
from .api_core import ApiContext, Args, JsonDict, SlackError
from .contract import CONTRACT
from .faults import Fault, Faults
from .recorder import Recorder

Method = Callable[[ApiContext, Args], JsonDict]

METHODS: dict[str, Method] = {
    **api_chat.METHODS,
    **api_read.METHODS,
    **api_views.METHODS,
    **api_assistant.METHODS,
}
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
# Source: docs.slack.dev/reference/methods/apps.connections.open — app-level token scope.
APP_TOKEN_SCOPES = "connections:write"


class WebApi:
    """Routes and request handling for the sandbox Web API."""

    def __init__(
        self,
        ctx: ApiContext,
        faults: Faults,
        recorder: Recorder,
        bot_token: str,
        app_token: str,
    ) -> None:
        self.ctx = ctx
        self.faults = faults
        self.recorder = recorder
        self.bot_token = bot_token
        self.app_token = app_token

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/{method}", self.handle),
            web.get("/api/{method}", self.handle),
            web.post("/upload/{file_id}", self.upload),
        ]

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.recorder.enter(method)
        try:
            return await self._handle(request, method)
        finally:
            self.recorder.leave(method)

    async def _handle(self, request: web.Request, method: str) -> web.Response:
        rule = CONTRACT.get(method)
        if rule is None or method not in METHODS:
            return _json({"ok": False, "error": "unknown_method"})
        try:
            data, bearer_only = await _read_args(request, reads_json=rule.json)
        except ValueError:
            return _json({"ok": False, "error": "invalid_json"})
        token = _token(request, data, bearer_only)
        auth_error = self._auth_error(method, token)
        if auth_error:
            return _json({"ok": False, "error": auth_error})
        headers = self._scope_headers(method)
        fault = self.faults.take(method, data)
        if fault is not None and fault.kind not in AFTER_THE_CALL:
            faulted = await _apply_fault(fault, headers)
            if faulted is not None:
                return faulted
        body = self._execute(method, data)
        self.recorder.record(method, data, body)
        if fault is not None and fault.kind in AFTER_THE_CALL:
            return await _lose_answer(fault, headers)
        return _json(body, headers=headers)

    def _scope_headers(self, method: str) -> dict[str, str]:
        """``x-oauth-scopes`` (what the token holds) and, where the method needs a fixed scope,
        ``x-accepted-oauth-scopes``.

        Source: github.com/slack-ruby/slack-ruby-client/issues/378 — "The response headers in
        Slack's Web API contain information that is sometimes useful. For example x-oauth-scopes
        is a list of scopes that the token has ... the only way to check the scopes on an existing
        token through the API" (with auth.test); @slack/web-api's WebAPICallResult exposes them as
        ``response_metadata.scopes`` / ``acceptedScopes`` on every call, errors included
        (github.com/connorads/lockbot/issues/11 shows them on a not_in_channel error).
        """
        granted = APP_TOKEN_SCOPES if method in APP_TOKEN_METHODS else self.ctx.provided()
        headers = {"x-oauth-scopes": granted}
        rule = CONTRACT[method]
        if rule.scope:
            headers["x-accepted-oauth-scopes"] = rule.scope
        return headers

    def _execute(self, method: str, data: JsonDict) -> JsonDict:
        implementation = METHODS[method]
        rule = CONTRACT[method]
        try:
            if rule.scope and method not in APP_TOKEN_METHODS:
                self.ctx.require(rule.scope)
            return implementation(self.ctx, Args(data))
        except SlackError as exc:
            return exc.body()

    def _auth_error(self, method: str, token: str | None) -> str | None:
        """Slack's answer for a missing, wrong, or wrong-kind token (``None`` when fine)."""
        if not token:
            return "not_authed"
        wanted = self.app_token if method in APP_TOKEN_METHODS else self.bot_token
        if token == wanted:
            return None
        if token in (self.app_token, self.bot_token):
            return "not_allowed_token_type"
        return "invalid_auth"

    async def upload(self, request: web.Request) -> web.Response:
        """The URL files.getUploadURLExternal hands out; stores the bytes POSTed to it."""
        record = self.ctx.workspace.files.get(request.match_info["file_id"])
        if record is None:
            return web.Response(status=404, text="file_not_found")
        record.content = await _upload_bytes(request)
        self.ctx.workspace.on_change()
        return web.Response(text=f"OK - {len(record.content)}")


async def _upload_bytes(request: web.Request) -> bytes:
    """The uploaded bytes, whether sent raw (slack_sdk) or as a multipart ``file`` field."""
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        field = form.get("file") or form.get("filename")
        if isinstance(field, web.FileField):
            return field.file.read()
        return str(field or "").encode()
    return await request.read()


async def _read_args(request: web.Request, *, reads_json: bool) -> tuple[JsonDict, bool]:
    """The arguments Slack reads for this request, and whether the token must be a bearer header.

    Query string first, then a form body. A JSON body is read only for methods whose spec
    ``consumes`` lists ``application/json`` (``reads_json``); for every other method it is
    ignored entirely, as if no argument had been sent. Source: Slack Web API OpenAPI spec
    (slack_web_openapi_v2_without_examples.json), per-method ``consumes``; the method reference
    pages say the same ("This method does not currently accept application/json", e.g.
    api.slack.com/methods/conversations.replies).

    A JSON body cannot carry the token: Source: docs.slack.dev/apis/web-api ("POST bodies" / JSON-
    encoded bodies) — the token must be presented in the ``Authorization: Bearer`` header.
    """
    data: dict[str, Any] = dict(request.query)
    if request.method != "POST" or not request.can_read_body:
        return data, False
    if request.content_type == "application/json":
        if not reads_json:
            return data, False
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("JSON body must be an object")
        body.pop("token", None)
        data.update(body)
        return data, True
    form = await request.post()
    data.update({k: v for k, v in form.items() if isinstance(v, str)})
    return data, False


def _token(request: web.Request, data: JsonDict, bearer_only: bool) -> str | None:
    """The bearer token (preferred) or a ``token`` argument; removed from the recorded args."""
    token = data.pop("token", None)
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer ") :].strip()
    if bearer_only:
        return None
    return str(token) if token else None


# Faults that let the call take effect, then lose its answer (see faults.py for the sources).
AFTER_THE_CALL = frozenset({"applied_then_error", "applied_then_hang"})


async def _lose_answer(fault: Fault, headers: dict[str, str]) -> web.Response:
    """The call has taken effect; the client sees an error, or nothing before it gives up."""
    if fault.kind == "applied_then_hang":
        await asyncio.sleep(fault.delay)  # cancelled here when the client times out and leaves
    return _json({"ok": False, "error": "internal_error"}, status=fault.status, headers=headers)


async def _apply_fault(fault: Fault, headers: dict[str, str]) -> web.Response | None:
    """The faulty answer, or ``None`` after a delay so the call proceeds."""
    if fault.kind == "delay":
        # cancelled here if the client disconnects
        await (fault.until.wait() if fault.until is not None else asyncio.sleep(fault.delay))
        return None
    if fault.kind == "ratelimit":
        return _json(
            {"ok": False, "error": "ratelimited"},
            status=429,
            headers={**headers, "Retry-After": str(fault.retry_after)},
        )
    if fault.kind == "server_error":
        return _json({"ok": False, "error": "internal_error"}, status=fault.status, headers=headers)
    return _json({"ok": False, "error": fault.error}, headers=headers)


def _json(body: JsonDict, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(body),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )
