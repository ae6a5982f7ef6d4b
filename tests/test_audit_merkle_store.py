"""The Merkle tree the append script keeps, read back: its root is RFC 6962's MTH over the
events' hashes in chain order, whoever appended them, and its proofs verify."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from app.audit import merkle
from app.audit.checkpoints import Checkpointer, CheckpointRefused
from app.audit.keys import AuditKeys
from app.audit.log import AuditLog
from app.audit.merkle_store import MerkleStore, MissingNodes
from app.runtime.settings import load_settings
from tests.test_audit import append_from_processes
from tests.test_audit_merkle import mth

STREAM = "steward:audit"


async def _leaves(r: aioredis.Redis) -> list[bytes]:
    """Each event's chain hash, in stream (= chain) order: the tree's leaves."""
    rows = await r.xrange(STREAM)
    return [bytes.fromhex(json.loads(fields["json"])["hash"]) for _, fields in rows]


async def _fill(log: AuditLog, n: int) -> None:
    for k in range(n):
        await log.record(interaction_id=f"i{k // 3}", event="requested", actor_id="U1")


async def test_the_stored_root_of_every_size_is_the_mth_of_the_event_hashes(
    r: aioredis.Redis,
) -> None:
    log = AuditLog(r)
    store = MerkleStore(r, AuditKeys())
    assert await store.size() == 0
    assert await store.root(0) == merkle.EMPTY_ROOT
    await _fill(log, 37)
    leaves = await _leaves(r)
    assert await store.size() == 37 == len(leaves)
    for size in range(1, 38):
        assert await store.root(size) == mth(leaves[:size])


async def test_proofs_from_the_store_verify_and_a_changed_node_fails_them(
    r: aioredis.Redis,
) -> None:
    log = AuditLog(r)
    store = MerkleStore(r, AuditKeys())
    await _fill(log, 21)
    leaves = await _leaves(r)
    root = mth(leaves)
    for index in (0, 7, 20):
        proof = await store.inclusion_proof(index, 21)
        assert merkle.verify_inclusion(index, 21, merkle.leaf_hash(leaves[index]), proof, root)
    for old in (1, 8, 13, 21):
        proof = await store.consistency_proof(old, 21)
        assert merkle.verify_consistency(old, 21, mth(leaves[:old]), root, proof)
    # The sibling of leaf 4 is leaf 5, at slot 10; garble it in place.
    await r.setrange("steward:audit:merkle:0", 10 * 32, b"\xff" * 32)
    proof = await store.inclusion_proof(4, 21)
    assert not merkle.verify_inclusion(4, 21, merkle.leaf_hash(leaves[4]), proof, root)


async def test_a_wiped_tree_is_named_not_guessed(r: aioredis.Redis) -> None:
    await _fill(AuditLog(r), 5)
    await r.delete("steward:audit:merkle:0")
    with pytest.raises(MissingNodes, match="no Merkle node"):
        await MerkleStore(r, AuditKeys()).root(5)


async def test_a_log_begun_before_the_tree_leaves_it_alone(r: aioredis.Redis) -> None:
    await r.hset("steward:audit:head", mapping={"hash": "ab" * 32, "seq": 4, "stream_id": "1-1"})
    store = MerkleStore(r, AuditKeys())
    assert await store.size() is None
    await AuditLog(r).record(interaction_id="i", event="requested")
    assert await store.size() is None
    assert not await r.exists("steward:audit:merkle:0")


def test_four_processes_appending_keep_one_tree(redis_url: str, redis_sync: redis.Redis) -> None:
    assert append_from_processes(redis_url, writers=4, each=150) == [0, 0, 0, 0]

    async def check() -> None:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        store = MerkleStore(client, AuditKeys())
        leaves = await _leaves(client)
        assert await store.size() == 600 == len(leaves)
        assert await store.root(600) == mth(leaves)
        assert await store.root(333) == mth(leaves[:333])
        await client.aclose()

    asyncio.run(check())


async def test_lua_sha256_raw_and_both_agree_with_hashlib(r: aioredis.Redis) -> None:
    from app.audit.lua_sha256 import SHA256_LUA

    both = r.register_script(SHA256_LUA + "\nlocal h, b = sha256_both(ARGV[1])\nreturn {h, b}")
    raw = aioredis.Redis(connection_pool=r.connection_pool.__class__.from_url(_url(r)))
    for message in (b"", b"\x00" + b"a" * 32, b"\x01" + bytes(range(64))):
        hexed, packed = await both(args=[message], client=raw)
        assert hexed.decode() == hashlib.sha256(message).hexdigest()
        assert packed == hashlib.sha256(message).digest()
    await raw.aclose()


def _url(r: aioredis.Redis) -> str:
    kw = r.connection_pool.connection_kwargs
    return f"redis://{kw['host']}:{kw['port']}/{kw.get('db', 0)}"


async def test_a_log_begun_before_the_tree_gets_one_at_its_first_checkpoint(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    log = AuditLog(r)
    await _fill(log, 10)
    # As an upgraded deployment finds it: a head with no `tree`, no nodes.
    await r.hdel("steward:audit:head", "tree")
    await r.delete(*[k async for k in r.scan_iter(match="steward:audit:merkle:*")])
    await _fill(log, 3)  # appends leave a tree-less log alone
    store = MerkleStore(r, AuditKeys())
    assert await store.size() is None
    signer = Checkpointer(r, load_settings(steward_data_dir=tmp_path))
    made = (await signer.publish_now()).checkpoint
    assert made is not None and made.size == 13
    assert made.root_bytes == mth(await _leaves(r))
    await _fill(log, 2)  # from now on every append extends it
    assert await store.size() == 15 and await store.root(15) == mth(await _leaves(r))


async def test_a_log_archived_before_it_had_a_tree_cannot_be_signed(
    r: aioredis.Redis, tmp_path: Path
) -> None:
    await r.hset("steward:audit:head", mapping={"hash": "ab" * 32, "seq": 4, "stream_id": "1-1"})
    await r.hset("steward:audit:anchor", mapping={"hash": "ab" * 32, "seq": 4, "stream_id": "1-1"})
    signer = Checkpointer(r, load_settings(steward_data_dir=tmp_path))
    with pytest.raises(CheckpointRefused, match="archived before it had a Merkle tree"):
        await signer.publish_now()
