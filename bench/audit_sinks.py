"""Sink throughput for bench/audit.py --parts sinks: events/s from the audit stream to loopback
receivers (Splunk HEC, OTLP/HTTP JSON, syslog over TCP) through the real forwarder, each
from an empty cursor to caught up. The receivers parse every request, as a collector would;
their cost is in the number, so compare runs on one machine rather than against a SIEM."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import redis.asyncio as aioredis

from app.audit.log import AuditLog
from app.audit.sink_kinds import OtlpLogs, Sink, SplunkHec, Syslog
from app.audit.sinks import Forwarder
from tests.sink_receivers import HecReceiver, OtlpReceiver, SyslogReceiver

TOKEN = "bench-hec-token"


async def _drain(client: aioredis.Redis, log: AuditLog, sink: Sink) -> float:
    """Seconds to forward the whole log to `sink` from an empty cursor."""
    forwarder = Forwarder(client, sink, keys=log.keys)
    await client.delete(forwarder.cursor_key, forwarder.lease_key)
    assert await forwarder.acquire()
    started = time.perf_counter()
    while await forwarder.pump():
        pass
    elapsed = time.perf_counter() - started
    await forwarder.release()
    await sink.close()
    return elapsed


async def bench_sinks(
    url: str,
    n: int,
    load: Callable[[AuditLog, int, int, datetime], Awaitable[None]],
    drop: Callable[[str, str], Awaitable[None]],
) -> None:
    prefix = f"stewardbench-sinks-{os.getpid()}"
    client = aioredis.Redis.from_url(url, decode_responses=True)
    log = AuditLog(client, prefix=prefix)
    try:
        await load(log, 0, n, datetime.now(UTC))
        hec, otlp, syslog = HecReceiver(TOKEN), OtlpReceiver(), SyslogReceiver()
        for receiver in (hec, otlp, syslog):
            await receiver.start()
        try:
            runs = [
                ("splunk hec", SplunkHec(hec.url, TOKEN), hec.tally),
                ("otlp/http json", OtlpLogs(otlp.url), otlp.tally),
                ("syslog tcp", Syslog(syslog.url), syslog.tally),
            ]
            for name, sink, tally in runs:
                seconds = await _drain(client, log, sink)
                await tally.wait_for(n)
                assert len(tally.items) == n
                print(
                    f"sinks {name:15} {n:,} events in {seconds:.2f} s: "
                    f"{n / seconds:,.0f} events/s (batches of 200, loopback receiver)"
                )
        finally:
            for receiver in (hec, otlp, syslog):
                await receiver.stop()
    finally:
        await client.aclose()
        await drop(url, prefix)
