"""What the loopback model answers to a question about a conversation (app/ask/prompts.py's
prompt: a `<<messages k=…>>` block, then a `<<question k=…>>` block).

Honest and deterministic, like its summaries: it finds the message sharing the most words with
the question and answers with that message's words, citing it; when no message holds at least
half of the question's words it says the messages don't answer (`answered: false`).
"""

from __future__ import annotations

import math
import re
from typing import Any

from .model_answers import message_lines

_QUESTION_OPEN_RE = re.compile(r"^<<question k=(\w+)>>$")
_WORD_RE = re.compile(r"[^\W_]+")
_STOP_TEXT = """a an and are as at be by can did do does for from had has have how i in is it its
me my of on or our so that the their them they this to was we were what when where which who
why will with would you your about any said say says tell"""
_STOP = frozenset(_STOP_TEXT.split())


def question_of(user: str) -> str | None:
    """The text of the question block, or None when the prompt is not a question."""
    closing: str | None = None
    lines: list[str] = []
    for line in user.splitlines():
        if closing is not None:
            if line == closing:
                return " ".join(lines)
            lines.append(line)
        elif opening := _QUESTION_OPEN_RE.match(line):
            closing = f"<</question k={opening.group(1)}>>"
    return None


def _terms(text: str) -> set[str]:
    words = (w.lower() for w in _WORD_RE.findall(text))
    return {_stem(w) for w in words if len(w) > 1 and w not in _STOP}


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def ask_answer(user: str, suffix: str = "") -> dict[str, Any]:
    question = question_of(user) or ""
    wanted = _terms(question)
    best: tuple[int, int, str, str, str] | None = None  # (overlap, position, id, author, text)
    for position, (mid, author, text) in enumerate(message_lines(user)):
        overlap = len(wanted & _terms(f"{author} {text}"))
        if overlap and (best is None or (overlap, position) > best[:2]):
            best = (overlap, position, mid, author, text)
    if best is None or best[0] < max(1, math.ceil(len(wanted) / 2)):
        return {"answered": False, "answer": "", "sources": []}
    _, _, mid, author, text = best
    words = " ".join(text.split()[:40])
    return {"answered": True, "answer": f"{author}: {words}{suffix}", "sources": [mid]}
