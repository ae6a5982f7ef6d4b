"""The Merkle tree as Redis keeps it: roots and proofs built from the stored nodes.

The append script writes the nodes (`app.audit.lua_merkle`); this reads them. Each root or proof
is one round trip of at most a few times log2(n) nodes (see `app.audit.merkle` on why), whatever
the log's size, and is checked by `merkle.verify_*` wherever it is used, so a node changed in
Redis can make a proof fail but never make a false one verify.
"""

from __future__ import annotations

import json
from typing import cast

import redis.asyncio as aioredis

from app.audit import merkle
from app.audit.keys import AuditKeys
from app.audit.lua_merkle import EXTEND_LUA, MERKLE_LUA, NODES_LUA
from app.audit.lua_sha256 import SHA256_LUA
from app.audit.stream import PAGE, AuditStream


class MissingNodes(RuntimeError):
    """The store lacks a node a proof needs: the tree was wiped, or never covered those events."""


class MerkleStore:
    def __init__(self, redis: aioredis.Redis, keys: AuditKeys) -> None:
        self._r = redis
        self.keys = keys
        self._nodes = redis.register_script(NODES_LUA)
        self._extend = redis.register_script(SHA256_LUA + MERKLE_LUA + EXTEND_LUA)

    async def size(self) -> int | None:
        """Leaves in the tree; None for a log begun before the tree (its head has no `tree`)."""
        head = cast(list[str | None], await self._r.hmget(self.keys.head, ["seq", "tree"]))
        if head[1] is not None:
            return int(head[1])
        return 0 if head[0] is None else None

    async def nodes(self, wanted: list[merkle.Node]) -> list[bytes]:
        if not wanted:
            return []
        found = await self._nodes(keys=[self.keys.merkle], args=[n.position for n in wanted])
        if "" in found:
            missing = wanted[found.index("")]
            raise MissingNodes(f"the store has no Merkle node {missing.level}/{missing.index}")
        return [bytes.fromhex(h) for h in found]

    async def ranges(self, spans: list[tuple[int, int]]) -> list[bytes]:
        """The MTH of each aligned range, from one read of all their pieces."""
        parts = [merkle.pieces(a, b) for a, b in spans]
        hashes = iter(await self.nodes([node for part in parts for node in part]))
        return [merkle.fold([next(hashes) for _ in part]) for part in parts]

    async def root(self, size: int) -> bytes:
        (root,) = await self.ranges([(0, size)])
        return root

    async def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return await self.ranges(merkle.inclusion_ranges(index, size))

    async def consistency_proof(self, old: int, new: int) -> list[bytes]:
        return await self.ranges(merkle.consistency_ranges(old, new))

    async def frontier(self, size: int) -> merkle.Frontier:
        """The right edge after `size` leaves, for a walk that resumes there (after an archive)."""
        return merkle.Frontier(size, await self.nodes(merkle.pieces(0, size)))

    async def catch_up(self, stream: AuditStream) -> int:
        """Build the tree of a log begun before it, from its events; returns the tree's size.

        Appends made meanwhile are read too, until the tree reaches the head and appends carry
        it on. MissingNodes when the log's first events were archived before it had a tree:
        their hashes are no longer in Redis, so no tree can be proven over them."""
        size = await self.size()
        if size is not None and size >= (await stream.read_head())[1]:
            return size
        tree = size or 0
        if tree == 0 and await stream.hash(self.keys.anchor):
            raise MissingNodes("the log's first events were archived before it had a Merkle tree")
        low = "-"
        while True:
            page = await stream.range(low, "+", PAGE)
            leaves: list[bytes] = []
            for _, fields in page:
                seq = int(fields.get("id", 0))
                if seq <= tree + len(leaves):
                    continue
                if seq != tree + len(leaves) + 1:
                    raise MissingNodes(f"event {tree + len(leaves) + 1} is missing from the stream")
                leaves.append(bytes.fromhex(json.loads(fields["json"])["hash"]))
            if leaves:
                moved = int(await self._extend(keys=[self.keys.merkle, self.keys.head],
                                               args=[tree, *leaves]))  # fmt: skip
                if moved != tree + len(leaves):  # another process is catching up: let it
                    return moved
                tree = moved
            if len(page) < PAGE:
                if tree >= (await stream.read_head())[1]:
                    return tree
                continue  # appends came meanwhile; they are in the next read
            low = "(" + page[-1][0]
