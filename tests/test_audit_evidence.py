"""Evidence packages: built from the live log, verified offline (no Redis, no Slack), and
failing after any byte of the file — an event, a proof, the checkpoint — is changed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.audit import evidence
from app.audit.checkpoints import Checkpointer
from app.audit.evidence_build import NoEvidence, evidence_package
from app.audit.log import AuditLog
from app.audit.signing import public_key_text
from app.runtime.settings import load_settings
from tests.test_audit_cli import steward


async def _log_with(r: aioredis.Redis, n: int) -> AuditLog:
    log = AuditLog(r)
    for k in range(n):
        await log.record(
            interaction_id="target" if k in (3, 8, 9) else f"other{k}",
            event=("requested", "generated", "approved")[k % 3],
            actor_id="U1", channel_id="C1", output=f"output {k} — ünïcode",
        )  # fmt: skip
    return log


async def test_a_package_verifies_offline_and_any_changed_byte_fails_it(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    log = await _log_with(r, 11)
    signer = Checkpointer(r, load_settings(steward_data_dir=tmp_path))
    text = await evidence_package(log, signer, "target")
    checkpoint, count = evidence.check(text)
    assert (count, checkpoint.size) == (3, 11)  # no checkpoint covered them: one was signed
    package = json.loads(text)
    assert [e["event"]["id"] for e in package["events"]] == [4, 9, 10]
    assert package["public_key_fingerprint"] == checkpoint.key
    for position, char in enumerate(text):
        changed = text[:position] + chr(ord(char) ^ 1) + text[position + 1 :]
        with pytest.raises(evidence.EvidenceError):
            evidence.check(changed)


async def test_a_package_checked_against_the_wrong_public_key_fails(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    log = await _log_with(r, 4)
    signer = Checkpointer(r, load_settings(steward_data_dir=tmp_path))
    text = await evidence_package(log, signer, "target")
    mine = public_key_text(signer.signing_key().public_key())
    assert evidence.check(text, mine)[1] == 1
    other = public_key_text(Ed25519PrivateKey.generate().public_key())
    with pytest.raises(evidence.EvidenceError, match="signed by key"):
        evidence.check(text, other)
    # Re-signing the package with another key, consistently, is caught by the auditor's key.
    package = json.loads(text)
    package["public_key"] = other
    with pytest.raises(evidence.EvidenceError):
        evidence.check(evidence.canonical(package))


async def test_a_package_rests_on_an_existing_covering_checkpoint(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    log = await _log_with(r, 10)
    signer = Checkpointer(r, load_settings(steward_data_dir=tmp_path))
    first = (await signer.publish_now()).checkpoint
    await log.record(interaction_id="later", event="requested")
    text = await evidence_package(log, signer, "target")
    assert evidence.check(text)[0] == first
    assert len(signer.file.read()) == 1  # nothing new had to be signed
    with pytest.raises(NoEvidence):
        await evidence_package(log, signer, "nobody")


async def test_a_store_whose_nodes_changed_makes_no_package(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    log = await _log_with(r, 10)
    signer = Checkpointer(r, load_settings(steward_data_dir=tmp_path))
    await signer.publish_now()
    # Leaf 2 (slot 4), the sibling in the proof of the target's first event (leaf 3).
    await r.setrange("steward:audit:merkle:0", 4 * 32, b"\x00" * 32)
    with pytest.raises(evidence.EvidenceError):
        await evidence_package(log, signer, "target")


def test_the_cli_writes_a_package_an_auditor_checks_without_redis(
    redis_url: str, redis_sync: redis.Redis, tmp_path: Path
) -> None:
    async def fill() -> None:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        await _log_with(client, 12)
        await client.aclose()

    asyncio.run(fill())
    out = tmp_path / "evidence.json"
    made = steward(redis_url, tmp_path, "audit", "evidence", "target", "-o", str(out))
    assert made.returncode == 0, made.stderr
    key = steward(None, tmp_path, "audit", "public-key")
    assert key.returncode == 0 and "fingerprint: " in key.stderr
    auditor = tmp_path / "auditor"  # another machine: no Redis, no key, no data
    auditor.mkdir()
    checked = steward(
        None, auditor, "audit", "check-evidence", str(out), "--public-key", key.stdout.strip()
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("evidence verifies: 3 events of the log steward/")
    out.write_text(out.read_text().replace("output 8", "output 7"))
    tampered = steward(None, auditor, "audit", "check-evidence", str(out))
    assert tampered.returncode == 1
    assert "event 2: its fields do not match its hash" in tampered.stdout
    assert not list(auditor.iterdir())  # checking made no key and wrote nothing
