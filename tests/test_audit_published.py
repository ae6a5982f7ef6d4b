"""`steward audit verify` against published checkpoints (acceptance of issue 15): a truncated
tail, a rewritten history and a wiped store are each reported, exit 1, naming what is wrong;
consistency proofs between checkpoints verify and forged ones fail. Real Redis, the real CLI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import cast

import redis
import redis.asyncio as aioredis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.audit import merkle
from app.audit.checkpoint import Checkpoint
from app.audit.checkpoints import Checkpointer
from app.audit.cli_attest import verify_published
from app.audit.event import AuditEvent
from app.audit.log import AuditLog
from app.audit.merkle_store import MerkleStore
from app.audit.published import CheckpointFile
from app.runtime.settings import load_settings
from tests.test_audit_cli import steward

STREAM = "steward:audit"


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def _client(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, decode_responses=True)


def fill_and_sign(url: str, data_dir: Path, sizes: tuple[int, ...] = (10, 20)) -> None:
    """Events 1..max(sizes), a checkpoint signed after each size in `sizes`."""

    async def go() -> None:
        client = await _client(url)
        log = AuditLog(client)
        signer = Checkpointer(client, load_settings(steward_data_dir=data_dir))
        done = 0
        for size in sizes:
            for k in range(done, size):
                await log.record(
                    interaction_id=f"i{k // 2}", event="generated", actor_id="U1",
                    output=f"summary {k}", use_case="summarize",
                )  # fmt: skip
            done = size
            assert (await signer.publish_now()).checkpoint is not None
        await client.aclose()

    run(go())


def verify(url: str, data_dir: Path) -> tuple[int, str]:
    done = steward(url, data_dir, "audit", "verify")
    return done.returncode, done.stdout


def test_an_intact_log_matches_every_published_checkpoint(
    redis_url: str, redis_sync: redis.Redis, tmp_path: Path
) -> None:
    fill_and_sign(redis_url, tmp_path)
    code, out = verify(redis_url, tmp_path)
    assert code == 0, out
    assert out.splitlines() == [
        "audit chain intact: 20 events",
        out.splitlines()[1],
    ]
    assert out.splitlines()[1].startswith(
        "audit tree matches 2 published checkpoint(s); the latest covers 20 events"
    )


def test_deleting_the_last_five_events_is_a_truncated_tail(
    redis_url: str, redis_sync: redis.Redis, tmp_path: Path
) -> None:
    fill_and_sign(redis_url, tmp_path)
    tail = cast(list[tuple[str, dict[str, str]]], redis_sync.xrevrange(STREAM, count=5))
    redis_sync.xdel(STREAM, *[sid for sid, _ in tail])
    code, out = verify(redis_url, tmp_path)
    assert code == 1
    assert "audit tree: truncated: the log holds 15 events" in out
    assert "events 16-20 are gone" in out

    # The careful attacker also deletes the first verify's own `audit_verified` event and
    # moves the head back: the chain alone now says intact.
    newer = cast(list[tuple[str, dict[str, str]]], redis_sync.xrevrange(STREAM))
    redis_sync.xdel(STREAM, *[sid for sid, f in newer if int(f["id"]) > 15])
    (sid, fields), *_ = cast(
        list[tuple[str, dict[str, str]]], redis_sync.xrevrange(STREAM, count=1)
    )
    last = json.loads(fields["json"])
    redis_sync.hset(
        "steward:audit:head",
        mapping={"hash": last["hash"], "seq": 15, "stream_id": sid, "tree": 15},
    )
    code, out = verify(redis_url, tmp_path)
    assert code == 1
    assert out.startswith("audit chain intact: 15 events\n")
    assert "audit tree: truncated: the log holds 15 events, but the checkpoint of" in out


def test_a_history_rewritten_with_recomputed_hashes_is_caught(
    redis_url: str, redis_sync: redis.Redis, tmp_path: Path
) -> None:
    fill_and_sign(redis_url, tmp_path)

    async def rewrite_everything() -> None:
        """What someone with write access to Redis can do: replay every event, one changed,
        through the real append script, so chain and tree are recomputed and self-consistent."""
        client = await _client(redis_url)
        rows = cast(list[tuple[str, dict[str, str]]], await client.xrange(STREAM))
        events = [AuditEvent.model_validate_json(f["json"]) for _, f in rows]
        events[2] = events[2].model_copy(update={"output": "something else entirely"})
        keys = [k async for k in client.scan_iter(match="steward:audit*")]
        keys += [k async for k in client.scan_iter(match="steward:interaction:*")]
        await client.delete(*keys)
        await AuditLog(client).append_many([e.model_copy(update={"id": 0}) for e in events])
        await client.aclose()

    run(rewrite_everything())
    code, out = verify(redis_url, tmp_path)
    assert code == 1
    assert out.startswith("audit chain intact: 20 events\n")  # the chain alone is fooled
    assert "audit tree: rewritten: the first 20 events do not hash to the root" in out
    assert "is not a prefix of the latest: its first 10 events were changed" in out


def test_a_wiped_store_with_published_checkpoints_is_never_intact(
    redis_url: str, redis_sync: redis.Redis, tmp_path: Path
) -> None:
    fill_and_sign(redis_url, tmp_path)
    redis_sync.delete(*redis_sync.keys("steward:audit*"), *redis_sync.keys("steward:interaction*"))
    code, out = verify(redis_url, tmp_path)
    assert code == 1
    assert "intact" not in out
    assert "audit tree: wiped: the store holds no audit events, but the checkpoint of" in out
    assert "covers 20" in out


def test_a_checkpoint_signed_by_another_key_is_reported_as_forged(
    redis_url: str, redis_sync: redis.Redis, tmp_path: Path
) -> None:
    fill_and_sign(redis_url, tmp_path, sizes=(4,))
    forged = Checkpoint.sign(
        Ed25519PrivateKey.generate(), log_id="x", size=4, root=b"\x00" * 32, at="now"
    )
    CheckpointFile(tmp_path / "audit-checkpoints.jsonl").append(forged)
    code, out = verify(redis_url, tmp_path)
    assert code == 1
    assert "audit tree: forged: the checkpoint at" in out and ":2 is not signed" in out


async def test_a_consistency_proof_between_checkpoints_verifies_and_a_forged_one_fails(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    log = AuditLog(r)
    signer = Checkpointer(r, load_settings(steward_data_dir=tmp_path))
    for k in range(13):
        await log.record(interaction_id=f"i{k}", event="requested")
    old = (await signer.publish_now()).checkpoint
    for k in range(13, 29):
        await log.record(interaction_id=f"i{k}", event="requested")
    new = (await signer.publish_now()).checkpoint
    assert old and new
    proof = await MerkleStore(r, log.keys).consistency_proof(old.size, new.size)
    assert merkle.verify_consistency(old.size, new.size, old.root_bytes, new.root_bytes, proof)
    for i in range(len(proof)):
        forged = [*proof]
        forged[i] = bytes([forged[i][0] ^ 1]) + forged[i][1:]
        assert not merkle.verify_consistency(
            old.size, new.size, old.root_bytes, new.root_bytes, forged
        )
    assert not merkle.verify_consistency(old.size, new.size, new.root_bytes, new.root_bytes, proof)


async def test_after_retention_trims_the_stream_the_tree_still_verifies_from_its_nodes(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    from tests.test_audit import _aged_log

    log, _ = await _aged_log(r)  # 5 events 40 days old, 3 recent
    signer = Checkpointer(r, load_settings(steward_data_dir=tmp_path))
    await signer.publish_now()
    result = await log.archive_older_than(30, tmp_path / "archive")
    assert result.archived == 5 and await r.xlen(STREAM) == 3
    await log.record(interaction_id="after", event="requested")
    await signer.publish_now()  # 9 events, 5 of them only in the archive now
    public = signer.signing_key().public_key()
    chain, report = await verify_published(log, signer.file.read(), public)
    assert chain.ok and report.ok, report.problems
    assert [p.checkpoint.size for p in report.checkpoints if p.checkpoint] == [8, 9]
    # The stored nodes over the archived events stand in for them: changing one is caught.
    await r.setrange("steward:audit:merkle:0", 3 * 32, b"\x00" * 32)  # the node over events 1-4
    chain, report = await verify_published(log, signer.file.read(), public)
    assert chain.ok and not report.ok
    assert any(p.startswith("rewritten: ") for p in report.problems)
