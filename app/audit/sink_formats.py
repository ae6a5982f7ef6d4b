"""How an audit event is written for each kind of sink: pure encoders, no I/O.

Every encoding carries the event's `id` where the receiver can read it without parsing the
body, so a receiver that sees a batch twice (at least once: a retry after a lost answer) can
drop the copies. The body is the event's stored JSON, unchanged, so a copy held by a SIEM
still hashes to the chain's `hash`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class SinkEvent:
    """One event as a sink sends it: the stored JSON text and the fields read from it."""

    stream_id: str
    text: str
    id: int
    at: str
    event: str
    interaction_id: str

    @classmethod
    def from_entry(cls, stream_id: str, text: str) -> SinkEvent:
        data = json.loads(text)
        return cls(
            stream_id=stream_id,
            text=text,
            id=int(data["id"]),
            at=str(data["at"]),
            event=str(data["event"]),
            interaction_id=str(data["interaction_id"]),
        )

    @property
    def epoch(self) -> float:
        return datetime.fromisoformat(self.at).timestamp()


# ---- Splunk HTTP Event Collector -------------------------------------------------------------
# "Format events for HTTP Event Collector" (help.splunk.com): a batch is event objects written
# one after another (not a JSON array); `time` is epoch seconds (fractions allowed), `event` the
# data, `fields` indexed metadata whose values are strings.


def hec_body(events: list[SinkEvent], host: str, index: str | None = None) -> bytes:
    lines = []
    for e in events:
        envelope: dict[str, Any] = {
            "time": round(e.epoch, 6),
            "host": host,
            "source": "steward",
            "sourcetype": "_json",
            "event": json.loads(e.text),
            "fields": {"steward_id": str(e.id), "steward_event": e.event},
        }
        if index:
            envelope["index"] = index
        lines.append(json.dumps(envelope, separators=(",", ":"), ensure_ascii=False))
    return "\n".join(lines).encode("utf-8")


# ---- syslog: RFC 5424 messages, RFC 6587 octet-counting framing -------------------------------
# PRI = facility * 8 + severity: facility 13 is "log audit", severity 6 "informational"
# (RFC 5424 §6.2.1). `meta` / `sequenceId` is an SD-ID IANA registers (§7.3.1), so the event's
# id travels in a field every collector parses; the MSG is UTF-8 and so starts with a BOM (§6.4).

PRI = 13 * 8 + 6
BOM = "\ufeff"


def _header_token(value: str, limit: int) -> str:
    """A header field: printable US-ASCII without spaces, at most `limit` long, else `-`."""
    clean = "".join(ch for ch in value if 33 <= ord(ch) <= 126)[:limit]
    return clean or "-"


def syslog_message(event: SinkEvent, host: str) -> bytes:
    header = " ".join(
        [
            f"<{PRI}>1",
            event.at,  # already RFC 3339 UTC with at most 6 fractional digits
            _header_token(host, 255),
            "steward",
            "-",
            _header_token(event.event, 32),
        ]
    )
    # sequenceId is 1..2147483647 (RFC 5424 §7.3.1); ids beyond it go in the MSG only.
    sd = f'[meta sequenceId="{event.id}"]' if 0 < event.id <= 2147483647 else "-"
    return f"{header} {sd} {BOM}{event.text}".encode()


def octet_frame(message: bytes) -> bytes:
    """RFC 6587 §3.4.1: MSG-LEN SP SYSLOG-MSG, the length in octets."""
    return str(len(message)).encode("ascii") + b" " + message


# ---- OpenTelemetry logs: OTLP/HTTP JSON -----------------------------------------------------
# The JSON mapping of ExportLogsServiceRequest (opentelemetry-proto logs.proto, OTLP spec
# "JSON Protobuf Encoding"): lowerCamelCase names, 64-bit integers as decimal strings, AnyValue
# as {"stringValue": ...} / {"intValue": "..."}. severityNumber 9 is SEVERITY_NUMBER_INFO.


def _attr(key: str, value: str | int) -> dict[str, Any]:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def otlp_body(events: list[SinkEvent], host: str, observed_ns: int) -> bytes:
    records = [
        {
            "timeUnixNano": str(round(e.epoch * 1_000_000) * 1000),
            "observedTimeUnixNano": str(observed_ns),
            "severityNumber": 9,
            "severityText": "INFO",
            "eventName": f"steward.audit.{e.event}",
            "body": {"stringValue": e.text},
            "attributes": [
                _attr("steward.audit.id", e.id),
                _attr("steward.audit.event", e.event),
                _attr("steward.audit.interaction_id", e.interaction_id),
            ],
        }
        for e in events
    ]
    request = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [_attr("service.name", "steward"), _attr("host.name", host)]
                },
                "scopeLogs": [{"scope": {"name": "steward.audit"}, "logRecords": records}],
            }
        ]
    }
    return json.dumps(request, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
