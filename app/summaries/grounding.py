"""Confidence for a summary: are its points backed by the messages they cite?

Two lexical checks, no model needed:

* citation validity — the share of citations that name a message we actually read (a point with
  no citation counts as one invalid citation: it cannot be checked);
* grounding — for each point, the recall of its content words (lower-cased, stop words removed,
  lightly stemmed) in the text and author names of the messages it cites, averaged over points.
  A paraphrase keeps most content words; a fabricated point shares few with its "sources".

They combine as `0.6 * grounding + 0.4 * citation_validity`. The offline engine's points are
quotes, grounded by construction, so for it grounding proves nothing: its confidence is instead
how clearly each quoted message is what its section says (a decision, a question, a task) by
the keyword cues that filed it (app/summaries/cues.py) — 1.0 for a message with several cues of
its section only, 0.75 for one cue, 0.6 times that when it also has another section's cues,
0.2 when its cues point elsewhere — averaged and scaled to at most 0.74: cues cannot check
meaning, so an extractive summary is never labelled High. When the model returned token
logprobs, the mean token probability takes a 30% share; when it could not (a reasoning model, a
server without logprobs) the score is the lexical one alone, and `basis` says so and why (Why?
shows it). Labels: High >= 0.75, Medium >= 0.5.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from app.slack.messages import SourceMessage
from app.summaries import cues
from app.summaries.summary import SECTIONS, Summary, SummaryPoint

HIGH_THRESHOLD = 0.75
MEDIUM_THRESHOLD = 0.5
GROUNDING_WEIGHT = 0.6  # citation validity takes the rest of the lexical score
LOGPROB_WEIGHT = 0.3
SUPPORTED_THRESHOLD = 0.5  # a point below this recall counts as unsupported
GROUNDING_ONLY = "grounding only, no token probabilities"
EXTRACTIVE_CAP = 0.74  # just under High
EXTRACTIVE_BASIS = (
    "extractive: each point quotes its message (grounded by construction); the score is how "
    "clearly each quoted message states a decision, question or task, by keyword cues"
)

Label = Literal["High", "Medium", "Low"]

_WORD_RE = re.compile(r"[^\W_]+")
_PLACEHOLDER_RE = re.compile(r"\[[A-Z_]+_\d+\]")  # redaction placeholders: the model saw these
_MARKUP_RE = re.compile(r"<[@#!][^<>]*>|<https?://[^<>|]*\|?|>")
_STOPWORD_TEXT = """
a about after all also an and any are as at be been but by can could did do does for from
had has have he her his how i if in into is it its just me my no not of on or our out over
she should so some than that the their them then there these they this to too up us was we
were what when which who will with would you your yes ok okay please thanks
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_SUFFIXES = ("ing", "ed", "es", "s", "ly")


class Confidence(BaseModel):
    """How far to trust a summary, with the parts that make up `value` for the Why? view."""

    model_config = ConfigDict(frozen=True)

    value: float  # 0..1
    label: Label
    grounding: float
    citation_validity: float
    logprob_score: float | None
    points: int
    unsupported_points: int
    invalid_citations: int
    uncited_points: int
    point_scores: list[float]
    basis: str | None = None  # set when the score could not use token probabilities, and why


def label_for(value: float) -> Label:
    if value >= HIGH_THRESHOLD:
        return "High"
    return "Medium" if value >= MEDIUM_THRESHOLD else "Low"


def _stem(word: str) -> str:
    """Crude suffix stripping: enough that migrate/migrated/migrating/migrates all meet."""
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


def content_terms(text: str) -> set[str]:
    text = _MARKUP_RE.sub(" ", _PLACEHOLDER_RE.sub(" ", text))
    return {_stem(w) for w in (m.lower() for m in _WORD_RE.findall(text)) if w not in _STOPWORDS}


def support(claim: str, evidence: Sequence[SourceMessage]) -> float:
    """Share of the claim's content terms found in the evidence messages (text + author)."""
    terms = content_terms(claim)
    if not terms:
        return 1.0 if evidence else 0.0  # nothing checkable, e.g. only a placeholder
    found: set[str] = set()
    for message in evidence:
        found |= content_terms(f"{message.user_name} {message.text}")
    return len(terms & found) / len(terms)


def _check_point(
    point: SummaryPoint, sources: Mapping[str, SourceMessage]
) -> tuple[float, int, int]:
    """(support, valid citations, invalid citations) for one point."""
    cited = [sources[ts] for ts in point.sources if ts in sources]
    invalid = len(point.sources) - len(cited)
    claim = f"{point.text} {point.owner or ''}"
    return (support(claim, cited) if cited else 0.0), len(cited), invalid


def logprob_score(logprobs: Sequence[float] | None) -> float | None:
    """Mean token probability, or None when the model gave no logprobs."""
    if not logprobs:
        return None
    return sum(math.exp(min(lp, 0.0)) for lp in logprobs) / len(logprobs)


def score(
    summary: Summary,
    sources: Mapping[str, SourceMessage],
    logprobs: Sequence[float] | None = None,
    logprobs_note: str | None = None,
) -> Confidence:
    """Confidence of `summary` given the messages it was made from (keyed by ts).

    `logprobs_note` says why the model gave no token probabilities, when it could not."""
    points = list(summary.points())
    checks = [_check_point(p, sources) for p in points]
    valid = sum(c[1] for c in checks)
    invalid = sum(c[2] for c in checks)
    uncited = sum(1 for p in points if not p.sources)
    if points:
        grounding = sum(c[0] for c in checks) / len(points)
        citation_validity = valid / (valid + invalid + uncited)
    else:  # a gist-only summary (tiny thread): check the gist against everything read
        grounding = support(summary.gist, list(sources.values()))
        citation_validity = 1.0
    value = GROUNDING_WEIGHT * grounding + (1 - GROUNDING_WEIGHT) * citation_validity
    basis = None
    if summary.engine == "offline":
        value, basis = extractive_confidence(summary), EXTRACTIVE_BASIS
    lp = logprob_score(logprobs)
    if lp is not None:
        value = (1 - LOGPROB_WEIGHT) * value + LOGPROB_WEIGHT * lp
    value = round(min(max(value, 0.0), 1.0), 4)  # label the number people will see
    return Confidence(
        value=value,
        label=label_for(value),
        grounding=round(grounding, 4),
        citation_validity=round(citation_validity, 4),
        logprob_score=None if lp is None else round(lp, 4),
        points=len(points),
        unsupported_points=sum(1 for c in checks if c[0] < SUPPORTED_THRESHOLD),
        invalid_citations=invalid,
        uncited_points=uncited,
        point_scores=[round(c[0], 4) for c in checks],
        basis=basis
        or (f"{GROUNDING_ONLY}: {logprobs_note}" if lp is None and logprobs_note else None),
    )


def _cue_certainty(point: SummaryPoint, section: str) -> float:
    found = cues.classify(point.text)
    if found.section != section:
        return 0.2
    certainty = 1.0 if found.strength >= 2 else 0.75
    return certainty * (0.6 if found.ambiguous else 1.0)


def extractive_confidence(summary: Summary) -> float:
    """The offline engine's confidence: how clearly its quotes are what they are filed as."""
    certainties = [
        _cue_certainty(point, section)
        for section in SECTIONS
        for point in getattr(summary, section)
    ]
    if not certainties:  # a gist only: the most informative message, nothing more is claimed
        return round(0.5 * EXTRACTIVE_CAP, 4)
    return round(EXTRACTIVE_CAP * sum(certainties) / len(certainties), 4)
