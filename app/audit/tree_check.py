"""Verifying the log against what was published: the checks `steward audit verify` adds to the
hash chain's.

A chain alone verifies after its newest events are deleted, after every event is rewritten with
recomputed hashes, and on a wiped store. Checkpoints signed elsewhere close those gaps:

- every published checkpoint must carry a valid signature by the log's key (`forged` if not),
  and no two may sign different roots for one size (`forked`);
- the log must hold at least as many events as the latest checkpoint covers (`truncated`; a
  store with no events at all is `wiped`);
- the root of the first `size` events, recomputed from the events themselves during the chain
  walk (`TreeWalk`), must be the latest checkpoint's (`rewritten`);
- every earlier checkpoint must be a prefix of the latest, by a consistency proof from the
  stored tree (`rewritten`), and the stored tree must agree with the events (`tree`), since
  proofs for evidence packages are built from it.

Events archived by retention are no longer in the stream; the walk resumes from the stored
nodes at the anchor, which the comparison with the checkpoints then vouches for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.audit import merkle
from app.audit.checkpoint import Checkpoint
from app.audit.merkle_store import MerkleStore, MissingNodes
from app.audit.published import Published
from app.audit.signing import fingerprint


class TreeWalk:
    """A `LeafSink` for the chain walk: the root of every prefix the checkpoints name."""

    def __init__(self, store: MerkleStore, sizes: set[int]) -> None:
        self.store = store
        self.sizes = sizes
        self.roots: dict[int, bytes] = {}
        self.frontier = merkle.Frontier()
        self.problem: str | None = None

    async def begin(self, after_seq: int) -> None:
        self.roots = {}
        try:
            self.frontier = await self.store.frontier(after_seq)
        except MissingNodes as exc:
            self.problem = f"tree: the events before {after_seq + 1} were archived and {exc}"
            self.frontier = merkle.Frontier()
        if after_seq in self.sizes:
            self.roots[after_seq] = self.frontier.root()

    def leaf(self, hash_hex: str) -> None:
        self.frontier.append(bytes.fromhex(hash_hex))
        if self.frontier.size in self.sizes:
            self.roots[self.frontier.size] = self.frontier.root()


@dataclass
class TreeReport:
    checkpoints: list[Published] = field(default_factory=list)  # the valid ones, by size
    problems: list[str] = field(default_factory=list)  # "<kind>: <sentence>", worst first

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def latest(self) -> Published | None:
        return self.checkpoints[-1] if self.checkpoints else None


def signed(published: list[Published], public: Ed25519PublicKey | None) -> TreeReport:
    """The checkpoints `public` signed, by size; the rest are problems."""
    report = TreeReport()
    by_size: dict[int, Published] = {}
    for entry in published:
        checkpoint = entry.checkpoint
        if checkpoint is None:
            report.problems.append(f"forged: {entry.where} is {entry.problem}")
        elif public is None:
            report.problems.append(
                f"unchecked: {entry.where} cannot be checked without the public key "
                "(pass --public-key)"
            )
        elif not checkpoint.signed_by(public):
            report.problems.append(
                f"forged: the checkpoint at {entry.where} is not signed by the log's key "
                f"{fingerprint(public)[:16]}…"
            )
        elif checkpoint.size in by_size and by_size[checkpoint.size].checkpoint != checkpoint:
            seen = by_size[checkpoint.size]
            if seen.checkpoint and seen.checkpoint.root != checkpoint.root:
                report.problems.append(
                    f"forked: {seen.where} and {entry.where} sign different roots for the "
                    f"first {checkpoint.size} events"
                )
        else:
            by_size.setdefault(checkpoint.size, entry)
    report.checkpoints = [by_size[size] for size in sorted(by_size)]
    return report


async def check_tree(
    report: TreeReport, walk: TreeWalk, store: MerkleStore, *, last_id: int, chain_ok: bool
) -> TreeReport:
    """Compare the log with the signed checkpoints. `last_id`: the id of the newest event the
    stream (or, all archived, the anchor) holds; `chain_ok`: whether the walk saw every event,
    so that its roots can be trusted."""
    latest = report.latest
    if latest is None or latest.checkpoint is None:
        return report
    top: Checkpoint = latest.checkpoint
    where = f"the checkpoint of {top.at} ({latest.where})"
    size = await store.size()
    if last_id == 0 and not size:
        report.problems.insert(
            0, f"wiped: the store holds no audit events, but {where} covers {top.size}"
        )
        return report
    if size is None:
        report.problems.append("tree: this log was begun before its Merkle tree")
        return report
    if walk.problem:
        report.problems.append(walk.problem)
    held = min(size, last_id)
    if held < top.size:
        report.problems.insert(
            0,
            f"truncated: the log holds {held} events, but {where} covers {top.size}: "
            f"events {held + 1}-{top.size} are gone",
        )
        return report
    if chain_ok and walk.roots.get(top.size) not in (None, top.root_bytes):
        report.problems.insert(
            0, f"rewritten: the first {top.size} events do not hash to the root {where} signed"
        )
    try:
        await _check_stored(report, walk, store, top, size, chain_ok=chain_ok)
    except MissingNodes as exc:
        report.problems.append(f"tree: {exc}; proofs cannot be built")
    return report


async def _check_stored(
    report: TreeReport,
    walk: TreeWalk,
    store: MerkleStore,
    top: Checkpoint,
    size: int,
    *,
    chain_ok: bool,
) -> None:
    if chain_ok and walk.frontier.size == size and await store.root(size) != walk.frontier.root():
        report.problems.append("tree: the stored Merkle tree does not match the events")
    top_root = await store.root(top.size)
    if top_root != top.root_bytes and not any(p.startswith("rewritten") for p in report.problems):
        report.problems.insert(
            0, f"rewritten: the stored tree's first {top.size} events are not what was signed"
        )
    for entry in report.checkpoints[:-1]:
        old = entry.checkpoint
        assert old is not None
        proof = await store.consistency_proof(old.size, top.size)
        if not merkle.verify_consistency(old.size, top.size, old.root_bytes, top.root_bytes, proof):
            report.problems.append(
                f"rewritten: the checkpoint of {old.at} ({entry.where}) is not a prefix of "
                f"the latest: its first {old.size} events were changed"
            )
