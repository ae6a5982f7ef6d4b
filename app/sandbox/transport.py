"""Delivering requests to the app the two ways Slack does: signed HTTP, or Socket Mode.

Both return a :class:`Delivery` — what the app answered and how long it took to answer — so a
test can assert "acknowledged within 3 s" and look at an ack's response payload.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from .interactions import Interactions

JsonDict = dict[str, Any]
Signing = Literal["valid", "unsigned", "bad", "stale"]
STALE_SECONDS = 6 * 60


@dataclass
class Delivery:
    """The app's answer to one delivered request."""

    status: int
    body: str
    elapsed: float
    headers: dict[str, str] = field(default_factory=dict)
    envelope_id: str | None = None
    sent: Any = None

    def json(self) -> Any:
        """The answer parsed as JSON, ``None`` for an empty or non-JSON body."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """``v0=`` HMAC-SHA256 of ``v0:{ts}:{body}``, via slack_sdk's own implementation."""
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    if signature is None:  # only when the secret is empty
        raise ValueError("a signing secret is required to sign requests")
    return signature


def signing_headers(secret: str, body: bytes, signing: Signing = "valid") -> dict[str, str]:
    """Slack's request headers, optionally broken in one of the ways tests need."""
    now = int(time.time())
    if signing == "unsigned":
        return {}
    if signing == "stale":
        stale = now - STALE_SECONDS
        return {
            "X-Slack-Request-Timestamp": str(stale),
            "X-Slack-Signature": sign(secret, body, stale),
        }
    signature = sign(secret, body, now)
    if signing == "bad":
        signature = signature[:-4] + ("0000" if not signature.endswith("0000") else "1111")
    return {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": signature}


class HttpTransport:
    """POSTs signed requests to the app's request URL."""

    def __init__(self, app_url: str | None, signing_secret: str, timeout: float = 10.0) -> None:
        self.app_url = app_url
        self.signing_secret = signing_secret
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def post(
        self,
        body: bytes,
        content_type: str,
        *,
        extra_headers: dict[str, str] | None = None,
        signing: Signing = "valid",
        sent: Any = None,
    ) -> Delivery:
        if not self.app_url:
            raise RuntimeError("Sandbox(app_url=...) is required for HTTP delivery")
        headers = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            **signing_headers(self.signing_secret, body, signing),
            **(extra_headers or {}),
        }
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        started = time.monotonic()
        try:
            async with self._session.post(
                self.app_url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                text = await response.text()
                return Delivery(
                    status=response.status,
                    body=text,
                    elapsed=time.monotonic() - started,
                    headers=dict(response.headers),
                    sent=sent,
                )
        except TimeoutError:
            # Slack gives up too; status 0 lets a test assert "the app never answered".
            return Delivery(0, "", time.monotonic() - started, sent=sent)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class SocketHub:
    """The sandbox's Socket Mode endpoint: accepts app connections, sends envelopes, awaits acks."""

    def __init__(self, interactions: Interactions, app_id: str, ack_timeout: float = 10.0):
        self.interactions = interactions
        self.app_id = app_id
        self.ack_timeout = ack_timeout
        self.connections: list[web.WebSocketResponse] = []
        self._draining: set[web.WebSocketResponse] = set()
        self._pending: dict[str, asyncio.Future[JsonDict]] = {}
        self._connected = asyncio.Event()
        self._next = 0

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/socket", self.handle)]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self.interactions.socket_tickets:
            return web.Response(status=401, text="invalid ticket")
        self.interactions.socket_tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await ws.send_json(self._hello())
        self.connections.append(ws)
        self._connected.set()
        try:
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self._on_text(message.data)
        finally:
            self.connections.remove(ws)
            self._draining.discard(ws)
            if not self._live():
                self._connected.clear()
        return ws

    def _live(self) -> list[web.WebSocketResponse]:
        """Connections that may receive envelopes (not closed, not asked to reconnect)."""
        return [c for c in self.connections if c not in self._draining and not c.closed]

    def _hello(self) -> JsonDict:
        return {
            "type": "hello",
            "num_connections": len(self.connections) + 1,
            "debug_info": {"host": "sandbox", "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }

    def _on_text(self, data: str) -> None:
        try:
            ack = json.loads(data)
        except ValueError:
            return
        future = self._pending.get(str(ack.get("envelope_id", "")))
        if future is not None and not future.done():
            future.set_result(ack)

    async def wait_connected(self, timeout: float) -> None:
        """Wait for a live app connection (e.g. while the app reconnects)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._live():
            self._connected.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no Socket Mode connection within {timeout}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connected.wait(), min(remaining, 0.05))

    async def send(
        self,
        kind: str,
        payload: JsonDict,
        *,
        accepts_response_payload: bool,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> Delivery:
        """Send one envelope and wait for its ack (status 0 and empty body if none came)."""
        await self.wait_connected(self.ack_timeout)
        envelope_id = str(uuid.uuid4())
        envelope: JsonDict = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
        future: asyncio.Future[JsonDict] = asyncio.get_running_loop().create_future()
        self._pending[envelope_id] = future
        live = self._live()
        ws = live[self._next % len(live)]
        self._next += 1
        started = time.monotonic()
        try:
            await ws.send_json(envelope)
            ack = await asyncio.wait_for(future, self.ack_timeout)
        except TimeoutError:
            return Delivery(
                0, "", time.monotonic() - started, envelope_id=envelope_id, sent=payload
            )
        finally:
            self._pending.pop(envelope_id, None)
        body = json.dumps(ack["payload"]) if ack.get("payload") is not None else ""
        return Delivery(
            200, body, time.monotonic() - started, envelope_id=envelope_id, sent=payload
        )

    async def disconnect_all(self, reason: str = "refresh_requested") -> None:
        """Ask every app connection to reconnect, as Slack does periodically."""
        self._connected.clear()
        for ws in list(self.connections):
            self._draining.add(ws)
            await ws.send_json({"type": "disconnect", "reason": reason})

    async def close(self) -> None:
        for ws in list(self.connections):
            await ws.close()
