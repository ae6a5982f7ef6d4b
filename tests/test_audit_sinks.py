"""Audit sinks: every event reaches Splunk HEC, syslog (TCP, TLS) and OTLP at least once,
from a durable cursor, with backoff on the injected clock, one sender per sink at a time."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import logging
import os
import re
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.audit.log import AuditLog
from app.audit.retention import RetentionJob
from app.audit.sink_kinds import OtlpLogs, SinkDown, SplunkHec, Syslog
from app.audit.sinks import BACKOFF_MAX_S, Forwarder, LeaseLost, backoff, configured_sinks
from app.runtime.metrics import REGISTRY
from app.runtime.settings import ConfigError, load_settings
from tests.clock import ManualClock
from tests.e2e import EMPLOYEE, running_stack
from tests.sink_receivers import HecReceiver, OtlpReceiver, SyslogReceiver, free_port
from tests.test_audit import _aged_log
from tests.test_e2e_summarize import launch_thread, results

TOKEN = "hec-token-4f1c"


async def _fill(log: AuditLog, n: int, start: int = 0) -> None:
    for k in range(start, start + n):
        await log.record(
            interaction_id=f"i{k}", event="generated", actor_id="U1", output=f"summary {k}"
        )


def _lag(sink: str) -> float | None:
    return REGISTRY.get_sample_value("steward_audit_sink_lag_events", {"sink": sink})


async def _stored(r: aioredis.Redis) -> list[str]:
    return [fields["json"] for _, fields in await r.xrange("steward:audit")]


async def test_a_hec_sink_down_for_1000_events_gets_all_1000_when_it_returns(
    r: aioredis.Redis,
) -> None:
    log, clock = AuditLog(r), ManualClock()
    receiver = HecReceiver(TOKEN)  # not started: nothing listens on its port
    forwarder = Forwarder(r, SplunkHec(receiver.url, TOKEN), clock=clock)
    stop = asyncio.Event()
    task = asyncio.create_task(forwarder.run(stop.is_set, stop))
    try:
        await _fill(log, 1000)
        # Rounds may fail during the fill too (the test clock runs on real time as well), with
        # the lag of that moment: count two more that start after all 1,000 are stored.
        rounds = forwarder.failures + 2
        await clock.sleepers(1)  # refused at least once, now backing off on the clock
        while forwarder.failures < rounds:  # several rounds while it stays down
            await clock.advance(BACKOFF_MAX_S)
            await clock.sleepers(1)
        assert receiver.tally.items == []
        assert await forwarder.cursor() == (None, 0)
        assert _lag("splunk") == 1000
        await receiver.start()
        await clock.advance(BACKOFF_MAX_S)
        await receiver.tally.wait_for(1000)
    finally:
        stop.set()
        await task
        await receiver.stop()
    ids = [e["event"]["id"] for e in receiver.tally.items]
    assert ids == list(range(1, 1001))  # all, once each, oldest first
    stored = await _stored(r)
    assert [json.dumps(e["event"], separators=(",", ":")) for e in receiver.tally.items[:3]] == [
        json.dumps(json.loads(text), separators=(",", ":")) for text in stored[:3]
    ]
    first = receiver.tally.items[0]
    assert first["sourcetype"] == "_json" and first["fields"]["steward_id"] == "1"
    assert isinstance(first["time"], float) and first["time"] > 1.7e9
    assert {h["Authorization"] for h in receiver.headers} == {f"Splunk {TOKEN}"}
    assert len({h["X-Splunk-Request-Channel"] for h in receiver.headers}) == 1  # one channel
    assert (await forwarder.cursor())[1] == 1000
    assert _lag("splunk") == 0
    assert forwarder.failures == 0


async def test_a_refused_batch_is_sent_again_from_the_cursor_with_its_ids(
    r: aioredis.Redis,
) -> None:
    log = AuditLog(r)
    receiver = HecReceiver(TOKEN)
    await receiver.start()
    try:
        forwarder = Forwarder(r, SplunkHec(receiver.url, TOKEN), batch=10)
        await _fill(log, 15)
        assert await forwarder.acquire()
        assert await forwarder.pump() == 10
        receiver.status = 503  # the collector is busy: the next batch is refused twice
        for _ in range(2):
            with pytest.raises(SinkDown, match="HTTP 503"):
                await forwarder.pump()
        assert (await forwarder.cursor())[1] == 10  # a refusal never moves the cursor
        receiver.status = 200
        assert await forwarder.pump() == 5
        assert await forwarder.pump() == 0
    finally:
        await receiver.stop()
    # Each attempt carried every event after the cursor once, with its id.
    assert receiver.tally.attempts == [list(range(1, 11))] + [list(range(11, 16))] * 3
    assert [e["event"]["id"] for e in receiver.tally.items] == list(range(1, 16))


async def test_the_cursor_is_durable_so_a_new_process_resumes_after_it(
    r: aioredis.Redis,
) -> None:
    log = AuditLog(r)
    receiver = OtlpReceiver()
    await receiver.start()
    try:
        first = Forwarder(r, OtlpLogs(receiver.url), batch=10)
        await _fill(log, 25)
        assert await first.acquire()
        assert await first.pump() == 10
        await first.release()
        await first.sink.close()
        second = Forwarder(r, OtlpLogs(receiver.url), batch=10)  # another process, later
        assert await second.acquire()
        while await second.pump():
            pass
        await second.sink.close()
    finally:
        await receiver.stop()
    assert receiver.tally.attempts == [
        list(range(1, 11)),
        list(range(11, 21)),
        [21, 22, 23, 24, 25],
    ]


async def test_one_forwarder_per_sink_and_a_stale_one_never_moves_the_cursor(
    r: aioredis.Redis,
) -> None:
    log = AuditLog(r)
    receiver = HecReceiver(TOKEN)
    await receiver.start()
    try:
        a = Forwarder(r, SplunkHec(receiver.url, TOKEN), batch=5)
        b = Forwarder(r, SplunkHec(receiver.url, TOKEN), batch=5)
        await _fill(log, 12)
        assert await a.acquire()
        assert not await b.acquire()
        assert await b.step() > 0  # waits its turn without sending
        assert receiver.tally.attempts == []
        assert await a.step() == 0.0  # sent a batch; more to come at once
        # a stalls past its lease; b takes over and moves on.
        await r.delete(a.lease_key)
        assert await b.acquire()
        assert await b.pump() == 5
        with pytest.raises(LeaseLost):
            await a.pump()  # its batch went (at least once), its cursor write did not
        assert await b.cursor() == ((await r.xrange("steward:audit"))[9][0], 10)
        assert await b.pump() == 2
        for f in (a, b):
            await f.sink.close()
    finally:
        await receiver.stop()
    assert receiver.tally.attempts == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11, 12], [11, 12]]


def test_backoff_doubles_up_to_a_minute() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4, 7, 8, 30)] == [1, 2, 4, 8, 60, 60, 60]


async def test_otlp_records_follow_the_otlp_json_encoding(r: aioredis.Redis) -> None:
    log = AuditLog(r)
    receiver = OtlpReceiver()
    await receiver.start()
    try:
        forwarder = Forwarder(r, OtlpLogs(receiver.url, {"X-Tenant": "acme"}))
        await _fill(log, 3)
        assert await forwarder.acquire()
        assert await forwarder.pump() == 3
        await forwarder.sink.close()
    finally:
        await receiver.stop()
    (request,) = receiver.requests
    (resource,) = request["resourceLogs"]
    attrs = {a["key"]: a["value"] for a in resource["resource"]["attributes"]}
    assert attrs["service.name"] == {"stringValue": "steward"}
    (scope,) = resource["scopeLogs"]
    assert scope["scope"]["name"] == "steward.audit"
    stored = await _stored(r)
    for record, text in zip(scope["logRecords"], stored, strict=True):
        assert record["body"] == {"stringValue": text}  # the stored JSON, byte for byte
        assert re.fullmatch(r"\d{19}", record["timeUnixNano"])  # int64 as a decimal string
        assert record["severityNumber"] == 9 and record["severityText"] == "INFO"
        attrs = {a["key"]: a["value"] for a in record["attributes"]}
        assert attrs["steward.audit.id"] == {"intValue": str(json.loads(text)["id"])}
        assert attrs["steward.audit.event"] == {"stringValue": "generated"}
    assert receiver.headers[0]["X-Tenant"] == "acme"
    assert receiver.headers[0]["Content-Type"] == "application/json"


SYSLOG = re.compile(
    r'<110>1 (\S+) (\S+) steward - generated \[meta sequenceId="(\d+)"\] \ufeff(.*)', re.S
)


async def test_syslog_over_tcp_is_rfc5424_octet_counted_and_catches_up_after_an_outage(
    r: aioredis.Redis,
) -> None:
    log = AuditLog(r)
    receiver = SyslogReceiver()
    forwarder = Forwarder(r, Syslog(receiver.url), batch=50)
    await _fill(log, 120)
    assert await forwarder.acquire()
    with pytest.raises(SinkDown, match="syslog: ConnectionRefusedError"):
        await forwarder.pump()
    await receiver.start()
    try:
        while await forwarder.pump():
            pass
        await receiver.tally.wait_for(120)
        await forwarder.sink.close()
    finally:
        await receiver.stop()
    stored = await _stored(r)
    for k, (message, text) in enumerate(zip(receiver.tally.items, stored, strict=True)):
        match = SYSLOG.fullmatch(message.decode("utf-8"))
        assert match, message[:80]
        at, _host, seq, body = match.groups()
        assert int(seq) == k + 1 and body == text
        assert at == json.loads(text)["at"]


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_syslog_over_tls_checks_the_servers_certificate(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    receiver = SyslogReceiver(tls=server_tls)
    await receiver.start()
    log = AuditLog(r)
    await _fill(log, 3)
    try:
        untrusting = Forwarder(r, Syslog(receiver.url))  # the system's CAs: not this one
        assert await untrusting.acquire()
        with pytest.raises(SinkDown, match="SSL"):
            await untrusting.pump()
        await untrusting.release()
        trusting = Forwarder(r, Syslog(receiver.url, ca_file=cert))
        assert await trusting.acquire()
        assert await trusting.pump() == 3
        await receiver.tally.wait_for(3)
        await trusting.sink.close()
    finally:
        await receiver.stop()
    assert all(SYSLOG.fullmatch(m.decode()) for m in receiver.tally.items)


async def test_the_hec_token_is_never_logged(
    r: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    log = AuditLog(r)
    receiver = HecReceiver("the-right-token")
    await receiver.start()
    try:
        sink = SplunkHec(receiver.url, TOKEN)  # a token the collector refuses
        forwarder = Forwarder(r, sink)
        await _fill(log, 2)
        with caplog.at_level(logging.DEBUG):
            delay = await forwarder.step()
        await sink.close()
    finally:
        await receiver.stop()
    assert delay == backoff(1)
    errors = [getattr(rec, "error", None) for rec in caplog.records]
    assert "splunk: HTTP 403" in errors  # the failure is reported…
    everything = caplog.text + "".join(str(vars(rec)) for rec in caplog.records)
    assert TOKEN not in everything and TOKEN not in repr(sink)  # …without the token


def test_sinks_come_from_the_settings_and_bad_ones_are_named(tmp_path: Path) -> None:
    assert configured_sinks(load_settings(steward_data_dir=tmp_path)) == []
    sinks = configured_sinks(
        load_settings(
            steward_audit_splunk_url="https://splunk.example:8088",
            steward_audit_splunk_token="t0k",
            steward_audit_syslog_url="tls://logs.example:6514",
            steward_audit_otlp_url="http://collector:4318",
            steward_audit_otlp_headers="Authorization=Bearer s3cret",
        )
    )
    assert [s.name for s in sinks] == ["splunk", "syslog", "otlp"]
    assert isinstance(sinks[0], SplunkHec)
    assert sinks[0].url == "https://splunk.example:8088/services/collector/event"
    assert isinstance(sinks[2], OtlpLogs) and sinks[2].url == "http://collector:4318/v1/logs"
    with pytest.raises(ConfigError, match="STEWARD_AUDIT_SPLUNK_TOKEN is not set"):
        configured_sinks(load_settings(steward_audit_splunk_url="https://splunk.example:8088"))
    with pytest.raises(ConfigError, match="STEWARD_AUDIT_SYSLOG_URL is malformed") as bad:
        load_settings(steward_audit_syslog_url="udp://secret-host:514")
    assert "secret-host" not in str(bad.value)
    with pytest.raises(ConfigError, match="STEWARD_AUDIT_OTLP_HEADERS is malformed") as bad:
        load_settings(steward_audit_otlp_headers="Bearer-s3cret")
    assert "s3cret" not in str(bad.value)
    assert free_port() > 0


async def test_retention_never_trims_what_a_configured_sink_has_not_taken(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    log, _ = await _aged_log(r)  # events 1-5 are 40 days old, 6-8 recent
    settings = load_settings(
        steward_data_dir=tmp_path,
        steward_audit_splunk_url="http://127.0.0.1:9/",
        steward_audit_splunk_token=TOKEN,
    )
    job = RetentionJob(log, r, lambda: 30, tmp_path / "a", sinks=settings)
    assert (await job.run_once()) is not None
    assert await r.xlen("steward:audit") == 8  # the sink has taken nothing yet: all stay
    stream = await r.xrange("steward:audit")
    await r.hset(Forwarder(r, SplunkHec("http://x", TOKEN)).cursor_key,
                 mapping={"stream_id": stream[1][0], "seq": 2})  # fmt: skip
    await r.delete("steward:audit:retention:gate")
    result = await job.run_once()
    assert result is not None and result.archived == 2
    assert await r.xlen("steward:audit") == 6
    assert (await log.verify()).ok
    unconfigured = RetentionJob(log, r, lambda: 30, tmp_path / "b", sinks=load_settings())
    await r.delete("steward:audit:retention:gate")
    result = await unconfigured.run_once()  # a sink no longer configured holds nothing back
    assert result is not None and result.archived == 3


async def test_worker_processes_forward_what_the_app_records(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    receiver = HecReceiver(TOKEN)
    await receiver.start()
    try:
        async with running_stack(
            redis_url,
            tmp_path,
            steward_audit_splunk_url=receiver.url,
            steward_audit_splunk_token=TOKEN,
        ) as stack:
            sandbox = stack.sandbox
            await sandbox.user(EMPLOYEE).message_shortcut(
                "summarize_thread", launch_thread(sandbox)
            )
            await sandbox.wait_for(lambda: results(sandbox))
            await receiver.tally.wait_for(2)
            stored = [e async for e in stack.runtime.services.audit.export()]
    finally:
        await receiver.stop()
    got = {e["event"]["id"]: e["event"]["event"] for e in receiver.tally.items}
    assert {e.id: e.event for e in stored}.items() <= got.items()
    assert {"requested", "generated"} <= set(got.values())


async def test_a_round_that_breaks_is_retried_and_the_forwarder_lives_on(
    r: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    await r.xadd("steward:audit", {"id": "1", "json": "not json"})  # what no append writes
    forwarder = Forwarder(r, SplunkHec("http://127.0.0.1:9", TOKEN))
    with caplog.at_level(logging.ERROR):
        assert await forwarder.step() == backoff(1)
        assert await forwarder.step() == backoff(2)
    assert "audit sink round failed" in caplog.text
    assert await forwarder.cursor() == (None, 0)
    await forwarder.sink.close()


def test_a_worker_with_an_incomplete_sink_stops_at_start_naming_the_setting(
    redis_url: str, redis_sync: object, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STEWARD_", "REDIS_URL"))}
    env |= {
        "REDIS_URL": redis_url,
        "STEWARD_DATA_DIR": str(tmp_path),
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "STEWARD_AUDIT_SPLUNK_URL": "https://splunk.example:8088",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "worker"],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    *announced, error = proc.stderr.strip().splitlines()  # after the storage line, one line
    assert error.startswith("steward: STEWARD_AUDIT_SPLUNK_TOKEN is not set")
    assert all("storage" in line for line in announced)
