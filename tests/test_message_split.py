"""Splitting messages by Slack's limits: every block kept, in order, each part within limits."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from app.slack.message_split import BLOCK_TEXT_BUDGET, MAX_BLOCKS, MAX_TEXT, split_message


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@given(st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=120))
def test_every_block_is_kept_in_order_and_every_part_fits(sizes: list[int]) -> None:
    blocks = [section(f"{n:04d}" + "x" * (size - 4 if size > 4 else 0)) for n, size in
              enumerate(sizes)]  # fmt: skip
    parts = split_message("fallback", blocks)
    assert [b for p in parts for b in p.blocks or []] == blocks
    for part in parts:
        assert part.blocks and len(part.blocks) <= MAX_BLOCKS
        assert sum(len(b["text"]["text"]) for b in part.blocks) <= BLOCK_TEXT_BUDGET
    if len(parts) > 1:
        assert [p.text for p in parts][-1].endswith(f"(part {len(parts)} of {len(parts)})")


def test_a_message_within_limits_is_sent_as_it_is() -> None:
    parts = split_message("hello", [section("hi")])
    assert len(parts) == 1 and parts[0].text == "hello" and parts[0].blocks == [section("hi")]


def test_long_plain_text_is_cut_at_line_ends_and_kept_whole() -> None:
    text = "\n".join(f"line {n} " + "y" * 90 for n in range(1000))  # ~100k characters
    parts = split_message(text, None)
    assert len(parts) >= 3 and all(len(p.text) <= MAX_TEXT for p in parts)
    assert "\n".join(p.text for p in parts) == text
