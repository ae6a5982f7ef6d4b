from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.model.tokens import count_tokens
from app.slack.messages import SourceMessage
from app.summaries.chunking import TRUNCATION_MARKER, chunk_messages


def render(m: SourceMessage) -> str:
    return f"[{m.ts}] {m.user_name}: {m.text}"


def make(texts: list[str]) -> list[SourceMessage]:
    return [
        SourceMessage(ts=f"1712000000.{i:06d}", user_id="U1", user_name="Ana", text=t)
        for i, t in enumerate(texts)
    ]


texts = st.lists(st.text(max_size=120), max_size=40)
budgets = st.integers(min_value=25, max_value=300)


@settings(max_examples=60, deadline=None)
@given(texts, budgets)
def test_partition_in_order_and_within_budget(items: list[str], budget: int) -> None:
    messages = make(items)
    chunks = chunk_messages(messages, budget, render)
    flat = [m for c in chunks for m in c.messages]
    assert flat == messages
    for c in chunks:
        assert c.messages, "no empty chunks"
        assert c.tokens == count_tokens(c.text) <= budget
        assert c.content_hash == hashlib.sha256(c.text.encode()).hexdigest()
        if not c.truncated:
            assert c.text == "\n".join(render(m) for m in c.messages)


@settings(max_examples=60, deadline=None)
@given(texts, texts, budgets)
def test_boundaries_are_stable_when_messages_are_appended(
    first: list[str], extra: list[str], budget: int
) -> None:
    messages = make(first + extra)
    before = chunk_messages(messages[: len(first)], budget, render)
    after = chunk_messages(messages, budget, render)
    if not before:
        return
    assert after[: len(before) - 1] == before[:-1]
    last_before, same_position = before[-1], after[len(before) - 1]
    assert same_position.messages[: len(last_before.messages)] == last_before.messages


def test_only_the_tail_changes_after_20_replies() -> None:
    thread = make([f"message {i} about the migration plan and the rollout" for i in range(500)])
    before = chunk_messages(thread, 400, render)
    after = chunk_messages([*thread, *make(["new reply"] * 20)], 400, render)
    old_hashes = {c.content_hash for c in before}
    reused = [c for c in after if c.content_hash in old_hashes]
    assert len(before) > 10
    assert len(reused) >= len(before) - 1
    assert after[: len(before) - 1] == before[:-1]


def test_oversized_message_gets_its_own_truncated_chunk() -> None:
    messages = make(["short one", "word " * 2000, "short two"])
    chunks = chunk_messages(messages, 100, render)
    assert [len(c.messages) for c in chunks] == [1, 1, 1]
    big = chunks[1]
    assert big.truncated == (messages[1].ts,)
    assert big.text.endswith(TRUNCATION_MARKER)
    assert big.text.startswith(render(messages[1])[:50])
    assert 90 <= big.tokens <= 100  # cut close to the budget, not to nothing
    assert chunks[0].truncated == chunks[2].truncated == ()


def test_budget_smaller_than_a_header_is_an_error() -> None:
    with pytest.raises(ValueError, match="budget"):
        chunk_messages(make(["x " * 50]), 5, render)
    with pytest.raises(ValueError):
        chunk_messages(make(["x"]), 0, render)


def test_empty_input_gives_no_chunks() -> None:
    assert chunk_messages([], 100, render) == []


def test_chunks_fill_up_to_the_budget() -> None:
    chunks = chunk_messages(make(["a b c d e f g h"] * 200), 500, render)
    assert all(c.tokens > 450 for c in chunks[:-1])


def test_5000_messages_are_chunked_whole_and_within_budget() -> None:
    # How long it takes is measured by bench/micro.py, not asserted here.
    thread = make([f"we should ship the billing change by Friday, ticket {i}" for i in range(5000)])
    chunks = chunk_messages(thread, 4000, render)
    assert sum(len(c.messages) for c in chunks) == 5000
    assert all(c.tokens <= 4000 for c in chunks)
