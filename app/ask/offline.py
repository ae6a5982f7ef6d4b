"""The offline engine's answer to a question: extractive, like its summaries
(app/summaries/offline_engine.py). It never paraphrases: the answer is the best-matching
messages, quoted and cited, or "the messages don't say" when none matches well enough.

A message answers when it holds more than half of the question's content terms (the terms
grounding uses); the best one by BM25 (app/ask/selection.py) is quoted, and the next one too
when it clears the same bar. Below the bar: not answered, nothing cited.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.ask.answer import NOT_IN_MESSAGES, AskAnswer
from app.ask.selection import bm25_scores
from app.slack.messages import SourceMessage
from app.summaries.grounding import content_terms
from app.summaries.summary import covered_span

ENGINE = "offline"
MODEL = "extractive-v1"
COVERAGE = 0.5  # a message must hold more than this share of the question's terms
MAX_QUOTES = 2
SNIPPET_CHARS = 280


def coverage(question_terms: set[str], message: SourceMessage) -> float:
    if not question_terms:
        return 0.0
    found = content_terms(f"{message.user_name} {message.text}")
    return len(question_terms & found) / len(question_terms)


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) <= SNIPPET_CHARS:
        return flat
    return flat[:SNIPPET_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def answer_offline(question: str, messages: Sequence[SourceMessage]) -> AskAnswer:
    terms = content_terms(question)
    scores = bm25_scores(question, messages)
    ranked = sorted((i for i, s in enumerate(scores) if s > 0), key=lambda i: (-scores[i], -i))
    quoted = [messages[i] for i in ranked if coverage(terms, messages[i]) > COVERAGE]
    quoted = sorted(quoted[:MAX_QUOTES], key=messages.index)
    covered = covered_span([m.ts for m in messages])
    if not quoted:
        return AskAnswer(
            answered=False, text=NOT_IN_MESSAGES, engine=ENGINE, model=MODEL, covered=covered
        )
    text = " ".join(f"{m.user_name}: “{_snippet(m.text)}”" for m in quoted)
    return AskAnswer(
        answered=True,
        text=text,
        sources=[m.ts for m in quoted],
        engine=ENGINE,
        model=MODEL,
        covered=covered,
    )
