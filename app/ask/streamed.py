"""Reading a streamed JSON answer as it arrives, and showing it safely.

`AnswerField` pulls the text of the `"answer"` string out of a JSON object that is still being
written (`{"answered": true, "answer": "Dev decided…`), decoding JSON string escapes, holding
back an escape that is not complete yet, and says whether `"answered": false` came first.

`SafeText` turns those characters into what may be shown: the model read untrusted text, so its
words pass through `sanitize_output` (no `@channel`, no links the sources lacked) before anyone
sees them. It releases text only up to a whitespace outside any `<…>` entity, so an entity,
a URL or an `@here` is never split between two releases and each is sanitised whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection

from app.model.sanitize import sanitize_output

_KEY_RE = re.compile(r'"answer"\s*:\s*"')
_ANSWERED_RE = re.compile(r'"answered"\s*:\s*(true|false)')
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
                   "t": "\t"}  # fmt: skip


class AnswerField:
    """Feed it the raw deltas; it returns the answer text each one completed."""

    def __init__(self) -> None:
        self.raw = ""
        self.answered: bool | None = None
        self._pos: int | None = None  # where the answer string's next character is
        self.done = False  # the closing quote was read

    def feed(self, delta: str) -> str:
        self.raw += delta
        if self.answered is None and (flag := _ANSWERED_RE.search(self.raw)):
            self.answered = flag.group(1) == "true"
        if self._pos is None:
            key = _KEY_RE.search(self.raw)
            if key is None:
                return ""
            self._pos = key.end()
        if self.done:
            return ""
        return self._decode()

    def _decode(self) -> str:
        assert self._pos is not None
        out: list[str] = []
        raw, i = self.raw, self._pos
        while i < len(raw):
            char = raw[i]
            if char == '"':
                self.done = True
                i += 1
                break
            if char != "\\":
                out.append(char)
                i += 1
                continue
            if i + 1 >= len(raw):
                break  # the escape's second character has not arrived
            code = raw[i + 1]
            if code in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[code])
                i += 2
                continue
            if code != "u":
                i += 2  # not valid JSON; drop it rather than guess
                continue
            decoded, length = _unicode_escape(raw, i)
            if length == 0:
                break  # incomplete: wait for more
            out.append(decoded)
            i += length
        self._pos = i
        return "".join(out)


def _unicode_escape(raw: str, i: int) -> tuple[str, int]:
    """`\\uXXXX` (or a surrogate pair of them) at `i`: (text, length), or ("", 0) if cut off."""
    if i + 6 > len(raw):
        return "", 0
    first = raw[i : i + 6]
    high = int(first[2:], 16) if re.fullmatch(r"\\u[0-9a-fA-F]{4}", first) else None
    if high is None:
        return "", 6
    if 0xD800 <= high < 0xDC00:
        if i + 12 > len(raw):
            return "", 0
        pair = raw[i : i + 12]
        try:
            return json.loads(f'"{pair}"'), 12
        except ValueError:
            return "", 12
    return chr(high), 6


class SafeText:
    """Sanitised text, released at safe points. `shown` is everything released so far."""

    def __init__(
        self, allowed_links: Collection[str], resolve_user: Callable[[str], str | None]
    ) -> None:
        self._allowed = allowed_links
        self._resolve = resolve_user
        self._held = ""
        self.shown = ""

    def feed(self, text: str) -> str:
        self._held += text
        cut = _safe_cut(self._held)
        if cut == 0:
            return ""
        return self._release(cut)

    def flush(self) -> str:
        """The rest, at the end of the answer."""
        return self._release(len(self._held)) if self._held else ""

    def _release(self, cut: int) -> str:
        piece, self._held = self._held[:cut], self._held[cut:]
        clean = sanitize_output(piece, self._allowed, self._resolve)
        self.shown += clean
        return clean


def _safe_cut(text: str) -> int:
    """The end of the longest prefix ending in whitespace with no `<` left open."""
    depth = 0
    cut = 0
    for i, char in enumerate(text):
        if char == "<":
            depth += 1
        elif char == ">" and depth:
            depth -= 1
        elif char.isspace() and depth == 0:
            cut = i + 1
    return cut
