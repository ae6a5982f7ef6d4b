"""Loopback receivers standing in for the outside world: a Splunk HTTP Event Collector, an
OpenTelemetry collector (OTLP/HTTP JSON) and a syslog server (RFC 6587 octet counting, TCP or
TLS). Each records what it took, per attempt, and can be told to refuse; a test waits for a
count on an event, never by sleeping."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from collections.abc import Callable
from typing import Any

from aiohttp import web


def free_port() -> int:
    """A loopback port nothing listens on (yet): a sink that is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Tally:
    """What arrived, and a way to wait until `count` items did."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.attempts: list[list[int]] = []  # the event ids of each request, accepted or not
        self._changed = asyncio.Event()

    def add(self, items: list[Any]) -> None:
        self.items.extend(items)
        self._changed.set()

    async def wait_for(self, count: int, timeout: float = 30.0) -> None:
        async def enough() -> None:
            while len(self.items) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(enough(), timeout)


class _HttpReceiver:
    path = "/"

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.status = 200  # what the next request gets when not 200: a refusal
        self.tally = Tally()
        self.headers: list[dict[str, str]] = []
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(self.path, self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        body = await request.read()
        refused = self.refuse(request)
        items, ids = self.parse(body)
        self.tally.attempts.append(ids)
        if refused is not None:
            return refused
        if self.status != 200:
            return web.json_response({"text": "Server is busy", "code": 9}, status=self.status)
        self.tally.add(items)
        return self.accepted()

    def refuse(self, request: web.Request) -> web.Response | None:
        return None

    def parse(self, body: bytes) -> tuple[list[Any], list[int]]:
        raise NotImplementedError

    def accepted(self) -> web.Response:
        return web.json_response({})


class HecReceiver(_HttpReceiver):
    """`POST /services/collector/event`: event objects one after another, `Authorization:
    Splunk <token>`; answers as HEC does ({"text": "Success", "code": 0})."""

    path = "/services/collector/event"

    def __init__(self, token: str = "hec-token-4f1c", port: int | None = None) -> None:
        super().__init__(port)
        self.token = token

    def refuse(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Splunk {self.token}":
            return web.json_response({"text": "Invalid authorization", "code": 3}, status=403)
        return None

    def parse(self, body: bytes) -> tuple[list[Any], list[int]]:
        decoder, text, at, events = json.JSONDecoder(), body.decode(), 0, []
        while at < len(text):
            while at < len(text) and text[at].isspace():
                at += 1
            if at < len(text):
                event, at = decoder.raw_decode(text, at)
                events.append(event)
        return events, [int(e["event"]["id"]) for e in events]

    def accepted(self) -> web.Response:
        return web.json_response({"text": "Success", "code": 0})


class OtlpReceiver(_HttpReceiver):
    """`POST /v1/logs` with an ExportLogsServiceRequest in the OTLP JSON encoding."""

    path = "/v1/logs"

    def __init__(self, port: int | None = None) -> None:
        super().__init__(port)
        self.requests: list[dict[str, Any]] = []

    def parse(self, body: bytes) -> tuple[list[Any], list[int]]:
        request = json.loads(body)
        self.requests.append(request)
        records = [
            record
            for resource in request["resourceLogs"]
            for scope in resource["scopeLogs"]
            for record in scope["logRecords"]
        ]
        return records, [int(json.loads(r["body"]["stringValue"])["id"]) for r in records]


class SyslogReceiver:
    """RFC 5424 messages framed by octet counting (RFC 6587 §3.4.1), over TCP or TLS."""

    def __init__(self, port: int | None = None, tls: ssl.SSLContext | None = None) -> None:
        self.port = port or free_port()
        self.tls = tls
        self.tally = Tally()
        self._server: asyncio.Server | None = None
        self.on_message: Callable[[bytes], None] = lambda _: None

    @property
    def url(self) -> str:
        return f"{'tls' if self.tls else 'tcp'}://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._client, "127.0.0.1", self.port, ssl=self.tls
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                length = await reader.readuntil(b" ")
                message = await reader.readexactly(int(length[:-1]))
                self.tally.add([message])
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
