"""Slack's size rules for one message, and splitting a message that breaks them.

Limits, with their sources:
- at most 50 blocks in a message (Block Kit reference, "Blocks": "up to 50 blocks in each
  message");
- the text of all its blocks together: Slack answers `msg_blocks_too_long` well below the sum of
  the per-block limits. The method reference does not give the number; reports measure it near
  12,000–13,300 characters depending on the block types (slackapi/bolt-js issue 2509), so we
  keep each message under `BLOCK_TEXT_BUDGET`, a margin below the lowest report;
- top-level `text` at most 40,000 characters (chat.postMessage reference, "Truncating content":
  longer text is refused with `msg_too_long`).

Long output is split on block boundaries (blocks are already at most 3,000 characters each, see
`app/slack/blocks.py`), never truncated; every part keeps the fallback text's meaning.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_BLOCKS = 50
BLOCK_TEXT_BUDGET = 11_000
MAX_TEXT = 40_000


@dataclass(frozen=True)
class Part:
    text: str
    blocks: list[dict[str, Any]] | None


def block_text_length(value: Any) -> int:
    """Characters of text a block (or any Block Kit value) carries: every `text` string in it."""
    if isinstance(value, Mapping):
        total = 0
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                total += len(item)
            else:
                total += block_text_length(item)
        return total
    if isinstance(value, list | tuple):
        return sum(block_text_length(item) for item in value)
    return 0


def split_message(text: str, blocks: Sequence[Mapping[str, Any]] | None) -> list[Part]:
    """`(text, blocks)` as one or more messages that each fit Slack's limits, in order."""
    if not blocks:
        return [Part(chunk, None) for chunk in _text_chunks(text)]
    groups = list(_block_groups([dict(b) for b in blocks]))
    if len(groups) == 1:
        return [Part(text[:MAX_TEXT], groups[0])]
    total = len(groups)
    return [Part(_part_text(text, n, total), group) for n, group in enumerate(groups, start=1)]


def _part_text(text: str, n: int, total: int) -> str:
    """Fallback text for part n of total: notifications and screen readers say which part."""
    label = f" (part {n} of {total})"
    return text[: MAX_TEXT - len(label)] + label


def _block_groups(blocks: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    current: list[dict[str, Any]] = []
    size = 0
    for block in blocks:
        length = block_text_length(block)
        if current and (len(current) >= MAX_BLOCKS or size + length > BLOCK_TEXT_BUDGET):
            yield current
            current, size = [], 0
        current.append(block)
        size += length
    if current:
        yield current


def _text_chunks(text: str) -> Iterator[str]:
    """Plain text over MAX_TEXT, cut at line ends where possible."""
    while len(text) > MAX_TEXT:
        cut = text.rfind("\n", 0, MAX_TEXT)
        cut = cut if cut > 0 else MAX_TEXT
        yield text[:cut]
        text = text[cut:].lstrip("\n")
    yield text
