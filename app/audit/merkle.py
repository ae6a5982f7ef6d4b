"""The Merkle tree math of RFC 6962 §2.1, with no storage: hashes, proofs and their checks.

    leaf hash = SHA-256(0x00 || leaf)         node hash = SHA-256(0x01 || left || right)
    MTH({}) = SHA-256()                        MTH(D[n]) splits at k, the largest power of 2 < n

A leaf of Steward's tree is an event's 32-byte chain hash (`app.audit.chain`), so every byte of
the event is bound to its leaf and the append script hashes only 33 bytes per leaf.

Every subtree a proof names is an *aligned range* [start, end): start is a multiple of a power
of two at least end - start. Such a range is a run of perfect subtrees, largest first (the bits
of its size), and its MTH is their right fold; a perfect subtree is a `Node` (level, index),
which is what `app.audit.merkle_store` keeps. So a proof element costs at most log2(n) stored
nodes, and only the one range ending at the tree's edge is ever imperfect: a proof is O(log n)
reads. Verification follows RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

EMPTY_ROOT = hashlib.sha256(b"").digest()


@dataclass(frozen=True, slots=True)
class Node:
    """The perfect subtree over leaves [index * 2**level, (index + 1) * 2**level)."""

    level: int
    index: int

    @property
    def position(self) -> int:
        """Its slot in the in-order layout: leaves at even slots, every node once, all < 2n."""
        return (self.index << (self.level + 1)) + (1 << self.level) - 1


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def pieces(start: int, end: int) -> list[Node]:
    """The perfect subtrees of the aligned range [start, end), largest (leftmost) first."""
    found: list[Node] = []
    at = start
    for level in range((end - start).bit_length() - 1, -1, -1):
        if (end - start) >> level & 1:
            if at % (1 << level):
                raise ValueError(f"[{start}, {end}) is not an aligned range")
            found.append(Node(level, at >> level))
            at += 1 << level
    return found


def fold(hashes: Sequence[bytes]) -> bytes:
    """The MTH of an aligned range from its pieces' hashes (see `pieces`)."""
    if not hashes:
        return EMPTY_ROOT
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = node_hash(left, root)
    return root


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose MTHs make PATH(index, D[size]) (RFC 6962 §2.1.1), leaf's sibling first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    found: list[tuple[int, int]] = []
    low, high = 0, size
    while high - low > 1:
        k = split(high - low)
        if index - low < k:
            found.append((low + k, high))
            high = low + k
        else:
            found.append((low, low + k))
            low += k
    return found[::-1]


def consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """The ranges whose MTHs make PROOF(old, D[new]) (RFC 6962 §2.1.2), deepest first."""
    if not 0 <= old <= new:
        raise ValueError(f"no consistency proof from {old} to {new}")
    if old in (0, new):
        return []
    found: list[tuple[int, int]] = []
    low, high, m, whole = 0, new, old, True
    while m != high - low:
        k = split(high - low)
        if m <= k:
            found.append((low + k, high))
            high = low + k
        else:
            found.append((low, low + k))
            m -= k
            low += k
            whole = False
    if not whole:
        found.append((low, high))
    return found[::-1]


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether `leaf` (its leaf hash) is leaf `index` of the tree of `size` with `root`."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether the tree of `old` leaves with `old_root` is a prefix of `new` with `new_root`."""
    if not 0 <= old <= new:
        return False
    if old == new:
        return not proof and old_root == new_root
    if old == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old & (old - 1) == 0:  # a power of two: the old tree is itself a node of the new one
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0


class Frontier:
    """The tree's right edge while leaves stream in: one hash per set bit of the size, so the
    root of every prefix is at hand without storing the tree (what verification walks with)."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """Start after `size` leaves, from the hashes of `pieces(0, size)`."""
        if len(hashes) != bin(size).count("1"):
            raise ValueError(f"a frontier of {size} leaves has {bin(size).count('1')} hashes")
        self.size = size
        self._stack = [(node.level, h) for node, h in zip(pieces(0, size), hashes, strict=True)]

    def append(self, leaf: bytes) -> None:
        """Add the next leaf (its data; it is leaf-hashed here)."""
        level, h = 0, leaf_hash(leaf)
        while self._stack and self._stack[-1][0] == level:
            h = node_hash(self._stack.pop()[1], h)
            level += 1
        self._stack.append((level, h))
        self.size += 1

    def root(self) -> bytes:
        return fold([h for _, h in self._stack])
