"""Split a conversation into model-sized chunks on message boundaries.

Boundary rule — greedy fill from the start: messages join the current chunk while its budgeted
size (each rendered message's tokens + 1 for the joining newline) stays within the budget; the
first message that would overflow starts the next chunk. A chunk is therefore decided by its own
messages and the one message after it, never by anything later, so when a thread grows every
chunk except the last is unchanged (same messages, same text, same `content_hash`), and the old
last chunk is a prefix of the new chunk at its position. Cached chunk summaries keyed by hash
stay valid; an incremental run re-summarises only the last chunk and the new ones.

A message that alone exceeds the budget gets a chunk of its own, its text cut to fit and ended
with `TRUNCATION_MARKER`, and its ts listed in `Chunk.truncated`, so nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from app.model.tokens import DEFAULT_MODEL, count_tokens, truncate_to_tokens
from app.slack.messages import SourceMessage

SEPARATOR = "\n"
TRUNCATION_MARKER = " […truncated: message longer than the chunk budget]"


@dataclass(frozen=True)
class Chunk:
    """Consecutive messages rendered as one model input.

    `tokens` is the exact token count of `text`; `content_hash` is the SHA-256 hex digest of
    `text`; `truncated` holds the ts of any message whose text was cut to fit.
    """

    messages: tuple[SourceMessage, ...]
    text: str
    tokens: int
    content_hash: str
    truncated: tuple[str, ...] = ()

    @property
    def first_ts(self) -> str:
        return self.messages[0].ts

    @property
    def last_ts(self) -> str:
        return self.messages[-1].ts


def _make_chunk(
    messages: Sequence[SourceMessage],
    rendered: Sequence[str],
    model: str,
    truncated: tuple[str, ...] = (),
) -> Chunk:
    text = SEPARATOR.join(rendered)
    return Chunk(
        messages=tuple(messages),
        text=text,
        tokens=count_tokens(text, model),
        content_hash=hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
        truncated=truncated,
    )


def _truncated_chunk(
    message: SourceMessage,
    budget_tokens: int,
    render: Callable[[SourceMessage], str],
    model: str,
) -> Chunk:
    """One over-budget message, its text cut (binary search on text tokens) until it fits."""

    def rendered_with(n_tokens: int) -> str:
        cut = truncate_to_tokens(message.text, n_tokens, model) + TRUNCATION_MARKER
        return render(replace(message, text=cut))

    best = rendered_with(0)
    if count_tokens(best, model) > budget_tokens:
        raise ValueError(
            f"chunk budget of {budget_tokens} tokens cannot hold even the header of message "
            f"{message.ts}; raise the budget"
        )
    low, high = 0, count_tokens(message.text, model)
    while low < high:  # invariant: rendered_with(low) fits
        mid = (low + high + 1) // 2
        candidate = rendered_with(mid)
        if count_tokens(candidate, model) <= budget_tokens:
            low, best = mid, candidate
        else:
            high = mid - 1
    return _make_chunk([message], [best], model, truncated=(message.ts,))


def chunk_messages(
    messages: Sequence[SourceMessage],
    budget_tokens: int,
    render: Callable[[SourceMessage], str],
    model: str = DEFAULT_MODEL,
) -> list[Chunk]:
    """Partition `messages` (in order) into chunks of at most `budget_tokens` tokens each.

    `render` turns one message into the text the model will see (e.g. the datamarked line); it
    must be deterministic, or hashes will not be stable.
    """
    if budget_tokens <= 0:
        raise ValueError("budget_tokens must be positive")
    lines = [render(message) for message in messages]
    # Fast path: a token is at least one byte, so text whose UTF-8 size fits the budget is one
    # chunk — exactly what the greedy loop below would produce, without counting each message.
    size = sum(len(line.encode("utf-8", "surrogatepass")) for line in lines) + len(lines)
    if messages and size <= budget_tokens:
        return [_make_chunk(messages, lines, model)]
    separator_cost = count_tokens(SEPARATOR, model)
    chunks: list[Chunk] = []
    current: list[SourceMessage] = []
    rendered: list[str] = []
    used = 0
    for message, text in zip(messages, lines, strict=True):
        cost = count_tokens(text, model)
        if cost > budget_tokens:
            if current:
                chunks.append(_make_chunk(current, rendered, model))
                current, rendered, used = [], [], 0
            chunks.append(_truncated_chunk(message, budget_tokens, render, model))
            continue
        # budgeting each message as its own tokens + the separator is an upper bound of the
        # joined text in practice (BPE merges across a newline only shrink), and keeps each
        # decision local to the chunk, which is what makes boundaries stable under appends
        added = cost + (separator_cost if current else 0)
        if current and used + added > budget_tokens:
            chunks.append(_make_chunk(current, rendered, model))
            current, rendered, used, added = [], [], 0, cost
        current.append(message)
        rendered.append(text)
        used += added
    if current:
        chunks.append(_make_chunk(current, rendered, model))
    return chunks
