"""The three kinds of sink an operator can configure: Splunk HEC, syslog over TCP/TLS, OTLP/HTTP.

Each sends one batch and either returns (the receiver took it) or raises `SinkDown`; the
forwarder (`app.audit.sinks`) owns cursors, retries and leases. A `SinkDown` message names the
sink and what went wrong (a status, an exception's type), never a token: it is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
import uuid
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp

from app.audit.sink_formats import SinkEvent, hec_body, octet_frame, otlp_body, syslog_message

TIMEOUT_S = 10.0  # per batch: well inside the forwarder's lease, so two never send at once
HOST = socket.gethostname()


class SinkDown(RuntimeError):
    """The sink did not take the batch; the forwarder retries it later from its cursor."""


class Sink(Protocol):
    name: str

    async def send(self, events: list[SinkEvent]) -> None: ...

    async def close(self) -> None: ...


class _HttpSink:
    """POST a body; any 2xx is delivery, anything else (or no answer) is `SinkDown`."""

    def __init__(self, name: str, url: str, headers: dict[str, str]) -> None:
        self.name = name
        self.url = url
        self._headers = headers  # may hold a token: never logged, never in an error
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.url!r})"

    async def post(self, body: bytes, content_type: str) -> bytes:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S))
        headers = self._headers | {"Content-Type": content_type}
        try:
            async with self._session.post(self.url, data=body, headers=headers) as response:
                answer = await response.read()
                if not 200 <= response.status < 300:
                    raise SinkDown(f"{self.name}: HTTP {response.status}")
                return answer
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SinkDown(f"{self.name}: {type(exc).__name__}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class SplunkHec(_HttpSink):
    """Splunk HTTP Event Collector: `Authorization: Splunk <token>` (help.splunk.com, "Format
    events for HTTP Event Collector")."""

    PATH = "/services/collector/event"

    def __init__(self, url: str, token: str, index: str | None = None) -> None:
        full = (
            url
            if urlsplit(url).path.rstrip("/").endswith(self.PATH)
            else (url.rstrip("/") + self.PATH)
        )
        # A channel id on every request: a token with indexer acknowledgment enabled refuses
        # requests without one ("Format events for HTTP Event Collector"), others ignore it.
        headers = {
            "Authorization": f"Splunk {token}",
            "X-Splunk-Request-Channel": str(uuid.uuid4()),
        }
        super().__init__("splunk", full, headers)
        self.index = index

    async def send(self, events: list[SinkEvent]) -> None:
        await self.post(hec_body(events, HOST, self.index), "application/json")


class OtlpLogs(_HttpSink):
    """OpenTelemetry logs over OTLP/HTTP with the JSON encoding, to `<endpoint>/v1/logs`.

    A partial success (`rejectedLogRecords`) is not retried, as the OTLP spec requires of
    clients: the collector has said it will never take those records.
    """

    PATH = "/v1/logs"

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        full = (
            url
            if urlsplit(url).path.rstrip("/").endswith(self.PATH)
            else (url.rstrip("/") + self.PATH)
        )
        super().__init__("otlp", full, headers or {})

    async def send(self, events: list[SinkEvent]) -> None:
        await self.post(otlp_body(events, HOST, time.time_ns()), "application/json")


class Syslog:
    """RFC 5424 over TCP (`tcp://host:port`) or TLS (`tls://host:port`, RFC 5425), framed by
    octet counting (RFC 6587). TCP has no receipt: a batch counts as delivered once the kernel
    took all of it (`drain`), so a receiver that dies mid-batch may lose what it had buffered;
    collectors that must never miss one should use HEC or OTLP, which answer each batch."""

    def __init__(self, url: str, ca_file: Path | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("tcp", "tls") or not parts.hostname or not parts.port:
            raise ValueError("not a tcp://host:port or tls://host:port URL")
        self.name = "syslog"
        self.host, self.port = parts.hostname, parts.port
        self.tls: ssl.SSLContext | None = None
        if parts.scheme == "tls":
            self.tls = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    def __repr__(self) -> str:
        return f"Syslog({self.host!r}, {self.port}, tls={self.tls is not None})"

    async def send(self, events: list[SinkEvent]) -> None:
        payload = b"".join(octet_frame(syslog_message(e, HOST)) for e in events)
        try:
            # A receiver that closed since the last batch: reconnect before writing, rather
            # than hand this batch to a socket only the next write would find dead.
            stale = self._reader is not None and self._reader.at_eof()
            if stale or self._writer is None or self._writer.is_closing():
                await self.close()
                self._reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port, ssl=self.tls), TIMEOUT_S
                )
            writer = self._writer
            assert writer is not None  # just connected, or still open
            writer.write(payload)
            await asyncio.wait_for(writer.drain(), TIMEOUT_S)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            await self.close()
            raise SinkDown(f"{self.name}: {type(exc).__name__}") from None

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
