"""The shape of a summary's reduce tree: leaves are chunks, each node merges up to `fan_in`
consecutive nodes of the level below, and every node is named by a hash of its children's names.

Names are content addresses: a leaf is its chunk's content hash, a node the hash of its
children's names. When a thread grows, chunks are only appended (app/summaries/chunking.py), so
every full group of the old tree keeps its children and its name; only the nodes on the right
edge (the new leaves' ancestors) get new names. Cached node summaries keyed by name are then
reused, and an incremental re-summary merges one node per level — its cost does not grow with
the thread's length, only with the tree's depth (log_fan_in of the chunk count).

A node with a single child is that child (no merge): the last group of a level is often short.

An extension (`extend`) builds on an earlier run's root instead: a node whose children are that
root (its summary cached, its subtree not needed) and the chunks added since. A thread that
keeps growing then costs one merge per re-summary, whatever its length; a growth of more than a
few chunks gets a balanced tree again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Node:
    name: str
    leaf: int | None = None  # the chunk's index, for a leaf
    children: tuple[Node, ...] = field(default=())

    @property
    def is_leaf(self) -> bool:
        return self.leaf is not None


def _merge_name(children: Sequence[Node]) -> str:
    joined = "node:" + ",".join(child.name for child in children)
    return hashlib.sha256(joined.encode()).hexdigest()


def build(leaf_names: Sequence[str], fan_in: int) -> Node | None:
    """The tree over `leaf_names` (in order), or None for no leaves."""
    if fan_in < 2:
        raise ValueError("fan_in must be at least 2")
    level = [Node(name=name, leaf=i) for i, name in enumerate(leaf_names)]
    while len(level) > 1:
        groups = [level[i : i + fan_in] for i in range(0, len(level), fan_in)]
        level = [
            g[0] if len(g) == 1 else Node(name=_merge_name(g), children=tuple(g)) for g in groups
        ]
    return level[0] if level else None


def extend(previous: str, leaf_names: Sequence[str], first_leaf: int) -> Node:
    """A merge of the earlier root named `previous` (a node whose summary is cached: its
    children are not listed) and the new leaves, which are chunks `first_leaf`, … ."""
    leaves = [Node(name=name, leaf=first_leaf + i) for i, name in enumerate(leaf_names)]
    children = (Node(name=previous), *leaves)
    return Node(name=_merge_name(children), children=children)


def depth(node: Node) -> int:
    """Merge levels below and including `node` (0 for a leaf)."""
    return 0 if node.is_leaf else 1 + max((depth(child) for child in node.children), default=0)


def walk(node: Node) -> Iterator[Node]:
    """Every node, parents before children."""
    yield node
    for child in node.children:
        yield from walk(child)


def fan_in_for(context_window: int, overhead_tokens: int, part_tokens: int, cap: int) -> int:
    """The widest merge the model's context window holds (parts of `part_tokens` each, plus the
    prompt and answer), at most `cap` so an incremental re-summary stays small."""
    fits = (context_window - overhead_tokens) // max(part_tokens, 1)
    return max(2, min(cap, fits))
