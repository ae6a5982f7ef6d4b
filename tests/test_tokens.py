from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.model.tokens import count_tokens, encoding_name, truncate_to_tokens, warm_up


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4o", "o200k_base"),
        ("openai/gpt-4.1-mini", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("llama3.1:8b", "cl100k_base"),
    ],
)
def test_encoding_for_model(model: str, encoding: str) -> None:
    assert encoding_name(model) == encoding


def test_known_counts_match_openai_vocabularies() -> None:
    # reference values from tiktoken for the same strings
    assert count_tokens("hello world", "gpt-4o-mini") == 2
    assert count_tokens("hello world", "gpt-4") == 2
    assert count_tokens("", "gpt-4o") == 0
    # the encodings differ on non-English text, so the model switch is real
    text = "Привет, как дела? Давайте обсудим релиз."
    assert count_tokens(text, "gpt-4o") < count_tokens(text, "gpt-4")


def test_special_token_text_is_counted_as_text_not_rejected() -> None:
    assert count_tokens("<|endoftext|>") > 1


def test_lone_surrogates_do_not_crash() -> None:
    assert count_tokens("a \ud800 b") >= 2
    assert truncate_to_tokens("a \ud800 b", 10) == "a ? b"


@settings(max_examples=100, deadline=None)
@given(st.text(), st.integers(0, 40))
def test_truncate_respects_limit_and_is_a_prefix(text: str, limit: int) -> None:
    clean = text.encode("utf-8", "replace").decode("utf-8")
    cut = truncate_to_tokens(text, limit)
    assert clean.startswith(cut)
    assert count_tokens(cut) <= limit
    if count_tokens(clean) <= limit:
        assert cut == clean


def test_truncate_drops_a_split_multibyte_character() -> None:
    text = "😀😀😀 漢字テスト"
    cuts = [truncate_to_tokens(text, n) for n in range(10)]
    assert all(text.startswith(c) for c in cuts)
    assert "\ufffd" not in "".join(cuts)


def test_counting_5000_messages_counts_each() -> None:
    # How long it takes is measured by bench/micro.py, not asserted here.
    warm_up()
    messages = [
        f"Ana: we decided to go with Postgres for billing; can you check the plan by Friday? #{i}"
        for i in range(5000)
    ]
    total = sum(count_tokens(m) for m in messages)
    assert total > 5000 * 10
