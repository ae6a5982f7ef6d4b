"""Signed checkpoints: the key (never from Redis, generated with a warning when none is set),
the signature, the append-only file, and when a worker signs one (on the injected clock)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import stat
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.audit.checkpoint import Checkpoint
from app.audit.checkpoints import Checkpointer, CheckpointRefused
from app.audit.log import AuditLog
from app.audit.merkle_store import MerkleStore
from app.audit.published import CheckpointFile, Published
from app.audit.signing import fingerprint, load_signing_key, parse_public_key, public_key_text
from app.runtime.settings import ConfigError, Settings, load_settings
from tests.clock import ManualClock
from tests.test_audit_merkle import mth


def _settings(tmp_path: Path, **more: object) -> Settings:
    return load_settings(steward_data_dir=tmp_path, **more)


async def _fill(log: AuditLog, n: int, start: int = 0) -> None:
    for k in range(start, start + n):
        await log.record(interaction_id=f"i{k}", event="requested", actor_id="U1")


def test_no_key_configured_generates_one_privately_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path)
    with caplog.at_level(logging.WARNING):
        key = load_signing_key(settings)
    path = tmp_path / "audit-signing-key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "production needs a key held elsewhere" in caplog.text
    assert "PRIVATE" not in caplog.text  # the key itself is never logged
    caplog.clear()
    again = load_signing_key(settings)  # the same key on the next start, silently
    assert fingerprint(again.public_key()) == fingerprint(key.public_key())
    assert caplog.text == ""


def test_a_key_from_the_environment_or_a_file_in_pem_or_base64(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    want = fingerprint(key.public_key())
    b64 = base64.b64encode(seed).decode()
    assert (
        fingerprint(
            load_signing_key(_settings(tmp_path, steward_audit_signing_key=b64)).public_key()
        )
        == want
    )
    (tmp_path / "k.pem").write_bytes(pem)
    from_file = _settings(tmp_path, steward_audit_signing_key_file=tmp_path / "k.pem")
    assert fingerprint(load_signing_key(from_file).public_key()) == want
    assert not (tmp_path / "audit-signing-key.pem").exists()  # nothing generated
    with pytest.raises(ConfigError) as bad:
        load_signing_key(_settings(tmp_path, steward_audit_signing_key="c2VjcmV0LW5vdC1hLWtleQ=="))
    assert "STEWARD_AUDIT_SIGNING_KEY is malformed" in str(bad.value)
    assert "c2VjcmV0" not in str(bad.value)  # the value is never echoed
    public = public_key_text(key.public_key())
    assert fingerprint(parse_public_key(public)) == want
    (tmp_path / "pub.txt").write_text(public + "\n")
    assert fingerprint(parse_public_key(str(tmp_path / "pub.txt"))) == want
    with pytest.raises(ValueError):
        parse_public_key("not a key")


def test_a_checkpoint_verifies_only_with_its_key_and_its_exact_fields() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    cp = Checkpoint.sign(key, log_id="acme", size=12, root=b"\x07" * 32, at="2024-05-01T00:00:00Z")
    assert cp.signed_by(key.public_key())
    assert not cp.signed_by(other.public_key())
    assert cp.signed_text().decode().splitlines() == [
        "steward-audit-checkpoint/v1",
        "acme",
        "12",
        "07" * 32,
        "2024-05-01T00:00:00Z",
    ]
    for field, value in (
        ("size", 13),
        ("root", "08" * 32),
        ("at", "2024-05-02T00:00:00Z"),
        ("log_id", "other"),
    ):
        assert not cp.model_copy(update={field: value}).signed_by(key.public_key())
    assert Checkpoint.model_validate_json(cp.line()) == cp


def test_the_checkpoint_file_only_grows_and_names_bad_lines(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    f = CheckpointFile(tmp_path / "sub" / "cps.jsonl")
    assert f.read() == []
    one = Checkpoint.sign(key, log_id="l", size=1, root=b"\x01" * 32, at="t1")
    two = Checkpoint.sign(key, log_id="l", size=2, root=b"\x02" * 32, at="t2")
    f.append(one)
    with open(f.path, "a") as out:
        out.write("garbage\n")
    f.append(two)
    found = f.read()
    assert [p.checkpoint for p in found] == [one, None, two]
    assert found[1] == Published(f"{f.path}:2", None, "not a checkpoint")


async def test_publish_now_signs_the_stored_root_and_appends_it(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    log = AuditLog(r)
    await _fill(log, 9)
    cp_er = Checkpointer(r, _settings(tmp_path))
    result = await cp_er.publish_now()
    assert result.checkpoint is not None and result.problems == []
    leaves = [
        bytes.fromhex(e["hash"])
        for e in (json.loads(f["json"]) for _, f in await r.xrange("steward:audit"))
    ]
    assert result.checkpoint.size == 9 and result.checkpoint.root_bytes == mth(leaves)
    assert result.checkpoint.signed_by(cp_er.signing_key().public_key())
    assert [p.checkpoint for p in CheckpointFile(tmp_path / "audit-checkpoints.jsonl").read()] == [
        result.checkpoint
    ]
    assert result.checkpoint.log_id.startswith("steward/")


async def test_a_signer_refuses_a_log_that_lost_or_changed_what_it_signed(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    log = AuditLog(r)
    await _fill(log, 6)
    signer = Checkpointer(r, _settings(tmp_path))
    await signer.publish_now()
    # Leaves 0-3 rewritten, with their node recomputed: slot 3 holds the node over them.
    await r.setrange("steward:audit:merkle:0", 3 * 32, b"\x00" * 32)
    await _fill(log, 2, start=6)
    with pytest.raises(CheckpointRefused, match="history was rewritten"):
        await signer.publish_now()
    # The log cut back below what was signed (head and tree alike).
    await r.hset("steward:audit:head", mapping={"seq": 3, "tree": 3})
    with pytest.raises(CheckpointRefused, match="fewer than the 6"):
        await signer.publish_now()
    assert len(signer.file.read()) == 1  # nothing more was signed
    assert await r.get("steward:audit:checkpoint:lock") is None  # the lock was let go


async def test_a_second_signer_waits_for_the_lock(r: aioredis.Redis, tmp_path: Path) -> None:
    await r.set("steward:audit:checkpoint:lock", "someone-else")
    result = await Checkpointer(r, _settings(tmp_path)).publish_now()
    assert result.checkpoint is None and result.skipped


async def test_checkpoints_come_every_n_events_or_t_seconds_on_the_clock(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    clock = ManualClock()
    settings = _settings(
        tmp_path, steward_audit_checkpoint_every=5, steward_audit_checkpoint_seconds=60
    )
    signer = Checkpointer(r, settings, clock=clock)
    log = AuditLog(r)
    assert await signer.run_once() is None  # the first look starts the period
    await _fill(log, 4)
    assert await signer.run_once() is None  # 4 < 5 events, 0 s < 60 s
    await _fill(log, 1, start=4)
    first = await signer.run_once()
    assert first is not None and first.checkpoint and first.checkpoint.size == 5
    await _fill(log, 2, start=5)
    assert await signer.run_once() is None
    await clock.advance(61)
    second = await signer.run_once()
    assert second is not None and second.checkpoint and second.checkpoint.size == 7
    await clock.advance(600)
    assert await signer.run_once() is None  # nothing new: no checkpoint for its own sake
    assert [p.checkpoint.size for p in signer.file.read() if p.checkpoint] == [5, 7]
    assert await MerkleStore(r, log.keys).size() == 7


async def test_worker_processes_run_the_checkpoint_loop(
    r: aioredis.Redis, redis_url: str, tmp_path: Path
) -> None:
    from app.runtime.process import Runtime

    clock = ManualClock()
    settings = load_settings(
        slack_bot_token="xoxb-test", slack_signing_secret="s", steward_data_dir=tmp_path,
        steward_engine="offline", steward_audit_checkpoint_seconds=60,
        slack_api_url="http://127.0.0.1:9/api/",
    )  # fmt: skip
    runtime = Runtime(settings, redis_url, clock=clock)
    await _fill(runtime.services.audit, 3)
    await r.hset("steward:audit:checkpoint:last", mapping={"size": 0, "at": clock.time()})
    runtime.start_workers(1)
    try:
        await clock.advance(61)
        async with asyncio.timeout(10):
            while not CheckpointFile(settings.checkpoint_file).read():
                await clock.advance(5)  # each pass of the loop waits one tick of this clock
                await asyncio.sleep(0)
    finally:
        await runtime.close()
    (published,) = CheckpointFile(settings.checkpoint_file).read()
    assert published.checkpoint is not None and published.checkpoint.size == 3
