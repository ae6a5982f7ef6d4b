"""The offline engine: an extractive summariser for when no model is configured.

It never paraphrases: every point is (a trimmed copy of) one real message and cites it, so the
output is always grounded, just less fluent than a model's. Scoring is deterministic:

* informativeness: TF-IDF-style — the summed IDF of a message's distinct content words,
  divided by the square root of their count, so rare, specific words win and long rambling
  messages do not win by length alone;
* cues: regexes for decisions ("decided", "agreed", "we'll go with", "approved"), action items
  ("I'll", "can you", "TODO", "by Friday", "owner") and questions ("?", "should we"); a message
  goes to the section whose cues it matches most (ties: decision > action > question) and its
  cue strength boosts its rank there.

The top points per section are shown in conversation order. `reduce_offline` merges chunk
summaries the same way over their points, keeping every citation.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

from app.model.redact import LABELS, find_sensitive
from app.slack.messages import SourceMessage, ts_order_key
from app.summaries import cues
from app.summaries.summary import SECTIONS, Summary, SummaryPoint, covered_span

ENGINE = "offline"
MODEL = "extractive-v1"
MAX_POINTS = 5
SNIPPET_CHARS = 180

_WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
_MENTION_RE = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_MARKUP_RE = re.compile(r"<[^<>\s]*\|([^<>]*)>|<[@#!][^<>]*>|<https?://[^<>]*>")
_STOPWORD_TEXT = """
a about above after again all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from
further had has have having he her here hers him his how i i'm i'll if in into is it it's
its just me more most my no nor not now of off on once only or other our ours out over own
same she should so some such than that that's the their theirs them then there these they
this those through to too under until up very was we we'll we're were what when where
which while who whom why will with would you you're your yours yeah yes ok okay thanks
thank lol hi hey please sure cool great just like get got one
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
# Credentials, not personal data: a summary names people and their addresses as the thread did.
SECRET_KINDS = frozenset(LABELS) - {"email", "iban", "national_id", "card", "phone"}


@dataclass(frozen=True, slots=True)
class _Candidate:
    index: int  # position in the input, for conversation order
    text: str  # the point text as it will be shown
    sources: tuple[str, ...]
    owner: str | None
    words: frozenset[str]
    section: str | None
    cue: int


def _terms(word: str) -> list[str]:
    """A word, or for Chinese and Japanese (written without spaces, so a "word" here is a whole
    clause) its character bigrams: the usual unit of term statistics for those scripts."""
    if not _CJK_RE.search(word):
        return [word]
    return [word[i : i + 2] for i in range(len(word) - 1)] or [word]


def _content_words(text: str) -> frozenset[str]:
    words = (w.lower() for w in _WORD_RE.findall(_MARKUP_RE.sub(r"\1", text)))
    terms = (t for w in words for t in _terms(w))
    return frozenset(t for t in terms if len(t) > 1 and t not in _STOPWORDS)


def _classify(text: str) -> tuple[str | None, int]:
    found = cues.classify(text)
    return found.section, found.strength


def _snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def _owner(message: SourceMessage) -> str | None:
    if cues.self_owned(message.text):
        return message.user_name
    mention = _MENTION_RE.search(message.text)
    if mention and cues.asks_other(message.text):
        return f"<@{mention.group(1)}>"  # resolved to a name by sanitize_output's resolver
    return None


def _without_secrets(text: str) -> str:
    """Credentials replaced by placeholders, as a model would have been shown them: a summary
    is read by more people, and for longer, than the message that leaked one."""
    hits = [h for h in find_sensitive(text) if h.kind in SECRET_KINDS]
    for hit in reversed(hits):
        text = f"{text[: hit.start]}[{LABELS[hit.kind]}_1]{text[hit.end :]}"
    return text


def _trusted(message: SourceMessage) -> bool:
    """Neither the text nor its author's name reads as an instruction to an assistant."""
    return not (cues.is_injection(message.text) or cues.is_injection(message.user_name))


def _idf(candidates: Sequence[_Candidate]) -> dict[str, float]:
    df: Counter[str] = Counter()
    for c in candidates:
        df.update(c.words)
    n = len(candidates)
    return {w: math.log((n + 1) / (d + 0.5)) for w, d in df.items()}


def _informativeness(c: _Candidate, idf: dict[str, float]) -> float:
    if not c.words:
        return 0.0
    return sum(idf[w] for w in c.words) / math.sqrt(len(c.words))


def _rank_key(c: _Candidate, idf: dict[str, float]) -> tuple[float, int]:
    return _informativeness(c, idf) * (1 + 0.5 * c.cue), -c.index


def _select(
    candidates: Sequence[_Candidate], idf: dict[str, float], max_points: int
) -> dict[str, list[SummaryPoint]]:
    """Top `max_points` per section by rank, de-duplicated, shown in conversation order."""
    out: dict[str, list[SummaryPoint]] = {}
    for section in SECTIONS:
        pool = [c for c in candidates if c.section == section and len(c.words) >= 2]
        pool.sort(key=lambda c: _rank_key(c, idf), reverse=True)
        chosen: list[_Candidate] = []
        seen: set[frozenset[str]] = set()
        for c in pool:
            if c.words not in seen:
                seen.add(c.words)
                chosen.append(c)
            if len(chosen) == max_points:
                break
        chosen.sort(key=lambda c: c.index)
        out[section] = [
            SummaryPoint(text=_without_secrets(c.text), sources=list(c.sources), owner=c.owner)
            for c in chosen
        ]
    return out


class _Sections(TypedDict):
    decisions: list[SummaryPoint]
    open_questions: list[SummaryPoint]
    action_items: list[SummaryPoint]


def _sections(
    candidates: Sequence[_Candidate], idf: dict[str, float], max_points: int
) -> _Sections:
    chosen = _select(candidates, idf, max_points)
    return _Sections(
        decisions=chosen["decisions"],
        open_questions=chosen["open_questions"],
        action_items=chosen["action_items"],
    )


def _message_candidate(index: int, m: SourceMessage) -> _Candidate:
    section, cue = _classify(m.text)
    return _Candidate(
        index=index,
        text=f"{m.user_name}: {_snippet(m.text)}",
        sources=(m.ts,),
        owner=_owner(m) if section == "action_items" else None,
        words=_content_words(m.text),
        section=section,
        cue=cue,
    )


def summarize_offline(
    messages: Sequence[SourceMessage], *, max_points: int = MAX_POINTS
) -> Summary:
    """Extractive summary of `messages` (any length; ~linear time), every point citing its ts."""
    if not messages:
        return Summary(gist="No messages to summarise.", engine=ENGINE, model=MODEL)
    candidates = [_message_candidate(i, m) for i, m in enumerate(messages) if _trusted(m)]
    if not candidates:
        return Summary(
            gist="Nothing here can be quoted safely.",
            engine=ENGINE,
            model=MODEL,
            covered=covered_span([m.ts for m in messages]),
        )
    idf = _idf(candidates)
    top = max(candidates, key=lambda c: _rank_key(c, idf))
    return Summary(
        gist=_without_secrets(top.text),
        engine=ENGINE,
        model=MODEL,
        covered=covered_span([m.ts for m in messages]),
        **_sections(candidates, idf, max_points),
    )


def _conversation_position(sources: Sequence[str]) -> int:
    """Order across chunks: the point's earliest cited message (uncited points go last)."""
    if not sources:
        return 1 << 62
    seconds, micros, _ = min(ts_order_key(ts) for ts in sources)
    return seconds * 1_000_000 + micros


def _point_candidates(summaries: Sequence[Summary]) -> list[_Candidate]:
    return [
        _Candidate(
            index=_conversation_position(p.sources),
            text=p.text,
            sources=tuple(p.sources),
            owner=p.owner,
            words=_content_words(p.text),
            section=section,
            cue=_classify(p.text)[1],
        )
        for summary in summaries
        for section in SECTIONS
        for p in getattr(summary, section)
    ]


def reduce_offline(summaries: Sequence[Summary], *, max_points: int = MAX_POINTS) -> Summary:
    """Merge chunk summaries (of consecutive chunks) into one, keeping each point's citations."""
    if not summaries:
        return summarize_offline([])
    candidates = _point_candidates(summaries)
    gists = [
        _Candidate(i, s.gist, (), None, _content_words(s.gist), None, _classify(s.gist)[1])
        for i, s in enumerate(summaries)
    ]
    idf = _idf([*candidates, *gists])
    spans = [s.covered for s in summaries if s.covered]
    notes = list(dict.fromkeys(s.truncated_note for s in summaries if s.truncated_note))
    return Summary(
        gist=max(gists, key=lambda c: _rank_key(c, idf)).text,
        engine=ENGINE,
        model=summaries[0].model or MODEL,
        covered=covered_span([ts for span in spans for ts in span]),
        truncated_note="; ".join(notes) or None,
        dropped_sources=sum(s.dropped_sources for s in summaries),
        **_sections(candidates, idf, max_points),
    )
