"""Assembling an evidence package from the live log (`app.audit.evidence` is its format and
its offline check).

The package is proven against the newest checkpoint this log's key signed that covers every one
of the interaction's events; when none does yet, a checkpoint is signed and published first, so
the package never rests on a root that exists only in Redis. Each proof is checked against that
root before it is written: a store whose nodes were changed makes no package at all.
"""

from __future__ import annotations

from app.audit import evidence, merkle
from app.audit.checkpoint import Checkpoint
from app.audit.checkpoints import Checkpointer
from app.audit.log import AuditLog


class NoEvidence(LookupError):
    """Nothing to prove: the interaction has no events in the log (or they were archived)."""


async def evidence_package(log: AuditLog, signer: Checkpointer, interaction_id: str) -> str:
    events = await log.events_for(interaction_id)
    if not events:
        raise NoEvidence(f"no audit events for interaction {interaction_id!r}")
    needed = max(event.id for event in events)
    checkpoint = _covering(signer, needed)
    if checkpoint is None:
        made = await signer.publish_now()
        checkpoint = made.checkpoint
        if checkpoint is None:
            raise NoEvidence(made.skipped or "no checkpoint could be signed")
    store = signer.store
    if await store.root(checkpoint.size) != checkpoint.root_bytes:
        raise evidence.EvidenceError("the stored tree does not match the signed checkpoint")
    proofs = []
    for event in events:
        proof = await store.inclusion_proof(event.id - 1, checkpoint.size)
        leaf = merkle.leaf_hash(bytes.fromhex(event.hash or ""))
        if not merkle.verify_inclusion(
            event.id - 1, checkpoint.size, leaf, proof, checkpoint.root_bytes
        ):
            raise evidence.EvidenceError(f"event {event.id} is not in the signed tree")
        proofs.append(proof)
    public = signer.signing_key().public_key()
    return evidence.build(interaction_id, events, proofs, checkpoint, public)


def _covering(signer: Checkpointer, needed: int) -> Checkpoint | None:
    public = signer.signing_key().public_key()
    signed = [p.checkpoint for p in signer.file.read() if p.checkpoint is not None]
    covering = [c for c in signed if c.size >= needed and c.signed_by(public)]
    return max(covering, key=lambda c: c.size) if covering else None
