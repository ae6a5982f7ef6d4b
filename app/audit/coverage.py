"""How much of the log a published checkpoint vouches for: retention trims no further.

An event trimmed from Redis lives on only in the archive files, which anyone with the disk can
edit. Once a checkpoint signed with the log's key covers it, the stored Merkle nodes over it
(kept after the trim) and that signature, held outside Redis, still prove what it was. So the
bound is the largest checkpoint in the checkpoint file that is signed by the log's key and
whose root the stored tree still has: a checkpoint the tree no longer matches (history
rewritten in Redis) vouches for nothing here, and `verify` names the problem.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis

from app.audit.keys import AuditKeys
from app.audit.merkle_store import MerkleStore, MissingNodes
from app.audit.published import CheckpointFile
from app.audit.signing import configured_public_key
from app.runtime.settings import Settings

log = logging.getLogger(__name__)


async def covered_size(redis: aioredis.Redis, keys: AuditKeys, settings: Settings) -> int:
    """Events 1..N are covered by a published checkpoint; 0 when none is (or no key exists)."""
    public = configured_public_key(settings)
    if public is None:
        return 0
    found = [p.checkpoint for p in CheckpointFile(settings.checkpoint_file).read()]
    store = MerkleStore(redis, keys)
    tree = await store.size()
    for checkpoint in sorted((c for c in found if c), key=lambda c: c.size, reverse=True):
        if tree is None or checkpoint.size > tree:
            continue  # more than the tree holds: a truncated log, which verify reports
        if not checkpoint.signed_by(public):
            continue  # checked largest first, so a long file costs one or two signatures
        try:
            if await store.root(checkpoint.size) == checkpoint.root_bytes:
                return checkpoint.size
        except MissingNodes:
            pass
        log.warning(
            "audit retention: a checkpoint does not match the stored tree; not trimming by it",
            extra={"size": checkpoint.size, "at": checkpoint.at},
        )
    return 0
