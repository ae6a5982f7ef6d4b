"""Which messages of a long conversation go to the model with a question: the relevant ones,
within a token budget, chosen deterministically (no model, no randomness).

Messages are ranked by BM25 (k1 = 1.2, b = 0.75; Robertson & Zaragoza, "The Probabilistic
Relevance Framework: BM25 and Beyond", 2009) of the question's content terms — the same terms
grounding checks (lower-cased, stop words removed, lightly stemmed, app/summaries/grounding.py)
— over each message's text and author. Best first (ties: the later message, as the newer word
on a subject), each joins with its neighbours — the message before and after, which often
carry the "yes, agreed" or the question it answers — while the rendered lines fit the budget.
The conversation's first message (a thread's root: its subject) is always kept. The selection
is shown in conversation order with the ids of the whole conversation, so citations map back.

A conversation that fits the budget is sent whole.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.model.tokens import count_tokens
from app.slack.messages import SourceMessage
from app.summaries.grounding import content_terms

K1 = 1.2
B = 0.75
BUDGET_TOKENS = 12_000  # the messages' share of an ask prompt
NEIGHBOURS = 1


@dataclass(frozen=True)
class Selection:
    """The chosen messages, in conversation order, and how they were chosen."""

    messages: tuple[SourceMessage, ...]
    total: int  # messages in the conversation
    tokens: int  # of the chosen, rendered lines
    whole: bool  # everything fitted: nothing was left out
    matched: int  # messages sharing at least one term with the question


def bm25_scores(question: str, messages: Sequence[SourceMessage]) -> list[float]:
    """One BM25 score per message for the question's content terms."""
    query = content_terms(question)
    docs = [Counter(_terms(m)) for m in messages]
    if not query or not docs:
        return [0.0] * len(docs)
    lengths = [sum(d.values()) for d in docs]
    average = (sum(lengths) / len(lengths)) or 1.0
    frequency = Counter(term for d in docs for term in d if term in query)
    n = len(docs)
    idf = {t: math.log(1 + (n - frequency[t] + 0.5) / (frequency[t] + 0.5)) for t in query}
    scores = []
    for doc, length in zip(docs, lengths, strict=True):
        score = 0.0
        for term in query:
            tf = doc.get(term, 0)
            if tf:
                score += idf[term] * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / average))
        scores.append(score)
    return scores


def _terms(message: SourceMessage) -> list[str]:
    return sorted(content_terms(f"{message.user_name} {message.text}"))


def select(
    question: str,
    messages: Sequence[SourceMessage],
    render: Callable[[SourceMessage], str],
    budget_tokens: int = BUDGET_TOKENS,
) -> Selection:
    """The messages to send with `question`; `render` is the line the model will see."""
    costs: dict[int, int] = {}

    def cost(index: int) -> int:
        if index not in costs:
            costs[index] = count_tokens(render(messages[index])) + 1
        return costs[index]

    scores = bm25_scores(question, messages)
    matched = sum(1 for s in scores if s > 0)
    size = sum(len(render(m).encode("utf-8", "surrogatepass")) + 1 for m in messages)
    if size <= budget_tokens or sum(cost(i) for i in range(len(messages))) <= budget_tokens:
        used = sum(cost(i) for i in range(len(messages)))
        return Selection(tuple(messages), len(messages), used, True, matched)
    chosen: set[int] = set()
    used = 0

    def take(index: int) -> bool:
        nonlocal used
        if index in chosen or not 0 <= index < len(messages):
            return True
        if used + cost(index) > budget_tokens:
            return False
        chosen.add(index)
        used += cost(index)
        return True

    take(0)
    ranked = sorted((i for i, s in enumerate(scores) if s > 0), key=lambda i: (-scores[i], -i))
    for index in ranked:
        if not take(index):
            break
        for offset in range(1, NEIGHBOURS + 1):
            take(index - offset)
            take(index + offset)
    kept = tuple(messages[i] for i in sorted(chosen))
    return Selection(kept, len(messages), used, False, matched)
