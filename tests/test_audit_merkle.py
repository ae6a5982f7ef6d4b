"""The tree math of `app.audit.merkle` against RFC 6962 §2.1 written out recursively, as the RFC
states it: MTH, PATH and PROOF/SUBPROOF, by hypothesis over sizes and indexes."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.audit import merkle as m

# ---- the RFC, verbatim and naive --------------------------------------------------------


def mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def path(index: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if index < k:
        return [*path(index, leaves[:k]), mth(leaves[k:])]
    return [*path(index - k, leaves[k:]), mth(leaves[:k])]


def subproof(old: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if old == n:
        return [] if whole else [mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if old <= k:
        return [*subproof(old, leaves[:k], whole), mth(leaves[k:])]
    return [*subproof(old - k, leaves[k:], False), mth(leaves[:k])]


def proof(old: int, leaves: list[bytes]) -> list[bytes]:
    return subproof(old, leaves, True) if 0 < old < len(leaves) else []


def data(n: int) -> list[bytes]:
    return [hashlib.sha256(str(i).encode()).digest() for i in range(n)]


def range_root(leaves: list[bytes], start: int, end: int) -> bytes:
    """MTH of an aligned range the way the store answers it: from its perfect pieces."""
    return m.fold(
        [mth(leaves[n.index << n.level : (n.index + 1) << n.level]) for n in m.pieces(start, end)]
    )


sizes = st.integers(min_value=1, max_value=300)


# ---- the module against it --------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(n=st.integers(min_value=0, max_value=300))
def test_the_frontier_root_of_every_prefix_is_mth(n: int) -> None:
    leaves = data(n)
    frontier = m.Frontier()
    assert frontier.root() == mth([])
    for i, leaf in enumerate(leaves):
        frontier.append(leaf)
        assert frontier.root() == mth(leaves[: i + 1])


@settings(max_examples=150, deadline=None)
@given(n=sizes, data_=st.data())
def test_inclusion_proofs_are_rfc_paths_and_verify(n: int, data_: st.DataObject) -> None:
    leaves = data(n)
    index = data_.draw(st.integers(min_value=0, max_value=n - 1))
    built = [range_root(leaves, a, b) for a, b in m.inclusion_ranges(index, n)]
    assert built == path(index, leaves)
    assert len(built) <= max(1, (n - 1).bit_length())
    root, leaf = mth(leaves), m.leaf_hash(leaves[index])
    assert m.verify_inclusion(index, n, leaf, built, root)
    assert not m.verify_inclusion(index, n, m.leaf_hash(b"other"), built, root)
    if built:
        forged = [*built]
        forged[data_.draw(st.integers(0, len(built) - 1))] = b"\x00" * 32
        assert not m.verify_inclusion(index, n, leaf, forged, root)
        assert not m.verify_inclusion(index, n, leaf, built[:-1], root)
    if n > 1:
        other = data_.draw(st.integers(0, n - 1).filter(lambda i: i != index))
        assert not m.verify_inclusion(other, n, leaf, built, root)


@settings(max_examples=150, deadline=None)
@given(n=sizes, data_=st.data())
def test_consistency_proofs_are_rfc_proofs_and_verify(n: int, data_: st.DataObject) -> None:
    leaves = data(n)
    old = data_.draw(st.integers(min_value=0, max_value=n))
    built = [range_root(leaves, a, b) for a, b in m.consistency_ranges(old, n)]
    assert built == proof(old, leaves)
    old_root, new_root = mth(leaves[:old]), mth(leaves)
    assert m.verify_consistency(old, n, old_root, new_root, built)
    if old:  # the empty tree is a prefix of every tree
        assert not m.verify_consistency(old, n, old_root, hashlib.sha256(b"x").digest(), built)
    if 0 < old < n:
        assert not m.verify_consistency(old, n, mth(data(old + 1)[1:]), new_root, built)
        forged = [*built]
        forged[data_.draw(st.integers(0, len(built) - 1))] = b"\x11" * 32
        assert not m.verify_consistency(old, n, old_root, new_root, forged)
        assert not m.verify_consistency(old, n, old_root, new_root, built[1:])


@settings(max_examples=100, deadline=None)
@given(start_level=st.integers(0, 8), index=st.integers(0, 50), data_=st.data())
def test_an_aligned_range_is_its_perfect_pieces(
    start_level: int, index: int, data_: st.DataObject
) -> None:
    start = index << start_level
    end = start + data_.draw(st.integers(1, 1 << start_level))
    found = m.pieces(start, end)
    assert found[0].index << found[0].level == start
    assert sum(1 << node.level for node in found) == end - start
    leaves = data(end)
    assert range_root(leaves, start, end) == mth(leaves[start:end])


def test_an_unaligned_range_is_refused() -> None:
    with pytest.raises(ValueError, match="aligned"):
        m.pieces(1, 4)


def test_node_positions_fill_the_in_order_layout_exactly_once() -> None:
    n = 64
    positions = [m.Node(level, index).position for level in range(7) for index in range(n >> level)]
    assert sorted(positions) == list(range(2 * n - 1))
    assert m.Node(0, 5).position == 10 and m.Node(1, 0).position == 1


def test_the_empty_tree_and_rfc_6962_leaf_and_node_prefixes() -> None:
    assert m.EMPTY_ROOT.hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert m.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert m.node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert m.verify_consistency(0, 5, m.EMPTY_ROOT, mth(data(5)), [])
    assert not m.verify_consistency(3, 2, m.EMPTY_ROOT, m.EMPTY_ROOT, [])
    assert not m.verify_inclusion(3, 3, m.leaf_hash(b""), [], m.EMPTY_ROOT)


def test_a_frontier_resumes_from_the_pieces_of_a_prefix() -> None:
    leaves = data(45)
    resumed = m.Frontier(37, [range_root(leaves, *_span(n)) for n in m.pieces(0, 37)])
    for leaf in leaves[37:]:
        resumed.append(leaf)
    assert resumed.root() == mth(leaves)
    with pytest.raises(ValueError):
        m.Frontier(37, [])


def _span(node: m.Node) -> tuple[int, int]:
    return node.index << node.level, (node.index + 1) << node.level
