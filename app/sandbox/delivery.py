"""Sends payloads to the app over the configured transport, encoded as Slack encodes them.

Slash commands are form fields, interactions a ``payload=`` form field holding JSON, events a
JSON body — over HTTP. Over Socket Mode each becomes an envelope of type ``slash_commands``,
``interactive`` or ``events_api``.
"""

from __future__ import annotations

import json
from typing import Any, Literal
from urllib.parse import urlencode

from .transport import Delivery, HttpTransport, Signing, SocketHub

Transport = Literal["http", "socket"]
JsonDict = dict[str, Any]
FORM = "application/x-www-form-urlencoded"


class Deliverer:
    """One place that knows how each kind of request travels over each transport."""

    def __init__(self, http: HttpTransport, socket: SocketHub, default: Transport) -> None:
        self.http = http
        self.socket = socket
        self.default: Transport = default

    async def command(self, form: dict[str, str], transport: Transport | None = None) -> Delivery:
        if (transport or self.default) == "socket":
            return await self.socket.send(
                "slash_commands", dict(form), accepts_response_payload=True
            )
        return await self.http.post(urlencode(form).encode(), FORM, sent=form)

    async def interactive(self, payload: JsonDict, transport: Transport | None = None) -> Delivery:
        if (transport or self.default) == "socket":
            return await self.socket.send("interactive", payload, accepts_response_payload=True)
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return await self.http.post(body, FORM, sent=payload)

    async def event(
        self,
        body: JsonDict,
        *,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        transport: Transport | None = None,
    ) -> Delivery:
        """An Events API request; ``retry_num`` makes it a retry of the same ``event_id``."""
        if (transport or self.default) == "socket":
            return await self.socket.send(
                "events_api",
                body,
                accepts_response_payload=False,
                retry_attempt=retry_num or 0,
                retry_reason=retry_reason if retry_num else "",
            )
        headers = {}
        if retry_num:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return await self.http.post(
            json.dumps(body).encode(), "application/json", extra_headers=headers, sent=body
        )

    async def raw(
        self,
        body: bytes,
        content_type: str = "application/json",
        *,
        signing: Signing = "valid",
        headers: dict[str, str] | None = None,
    ) -> Delivery:
        """Arbitrary bytes over HTTP, optionally unsigned, wrongly signed or stale."""
        return await self.http.post(body, content_type, extra_headers=headers, signing=signing)
