"""The text as redaction's detectors read it, with the way back to the text as written.

NFKC (fullwidth `＠` is `@`), Unicode digits folded to ASCII, invisible format characters
(zero-width space and joiners, soft hyphen, bidi marks) dropped and, on request, a line break
removed where it splits one value (`ana@acme.` / `com`, a key wrapped across lines). Each
character of the view remembers the original character it came from, so a span found in the
view is a span of the original: the text around a placeholder stays exactly as written.
"""

from __future__ import annotations

import re
import unicodedata

_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]+")
_BREAK_RE = re.compile(r"[ \t]*\r?\n[ \t]*")
_KEY_CHARS = re.compile(r"[A-Za-z0-9_+/=-]+")
_KEY_TAIL_RE = re.compile(r"[A-Za-z0-9_+/=-]+$")
# A token starting like a known key: a line break right after it continues the key.
_KEY_PREFIXES = (
    "sk-", "sk_", "rk_", "xox", "xapp-", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_",
    "AKIA", "ASIA", "AIza", "eyJ",
)  # fmt: skip


def _normal_char(ch: str) -> str:
    """One character as the detectors see it: NFKC, a Unicode digit as ASCII, format
    characters (zero-width space and joiners, soft hyphen, bidi marks) as nothing."""
    if unicodedata.category(ch) == "Cf":
        return ""
    out = unicodedata.normalize("NFKC", ch)
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() and not c.isascii() else c
                   for c in out)  # fmt: skip


def _joins(text: str, before: int, after: int) -> bool:
    """Whether the line break between text[:before] and text[after:] splits one value."""
    if before == 0 or after >= len(text) or text[before - 1].isspace() or text[after].isspace():
        return False
    prev, nxt = text[before - 1], text[after]
    if prev == "@" or nxt == "@":
        return True  # ana@ / acme.com
    if (prev == "." or nxt == ".") and not nxt.isupper():
        return True  # ana@acme. / com, but not "… acme.com." / "Thanks"
    head_match = _KEY_TAIL_RE.search(text, max(0, before - 120), before)
    tail_match = _KEY_CHARS.match(text, after, after + 120)
    if head_match is None or tail_match is None:
        return False
    head, tail = head_match.group(), tail_match.group()
    if tail.startswith(_KEY_PREFIXES):
        return False  # the next line starts a key of its own
    if head.startswith(_KEY_PREFIXES):  # a key wrapped after its prefix
        return any(c.isdigit() or c.isupper() for c in tail)
    if prev in "_-" and len(head) >= 8:  # a key wrapped at a hyphen or underscore
        return True
    # a long key-like token wrapped: both halves mix letters and digits
    return (
        len(head) >= 16
        and any(c.isdigit() for c in head)
        and any(c.isdigit() for c in tail)
        and any(c.isalpha() for c in tail)
    )


class NormalView:
    """The text the detectors read, and where each of its characters came from."""

    def __init__(self, text: str, *, join_lines: bool = False) -> None:
        self.text = text
        self._origin: list[int] | None = None  # None: the view is the text itself
        if text.isascii() and not (join_lines and "\n" in text):
            return
        chars: list[str] = []
        origin: list[int] = []
        pos = 0
        for m in _NON_ASCII_RE.finditer(text):
            chars.append(text[pos : m.start()])
            origin.extend(range(pos, m.start()))
            for i in range(m.start(), m.end()):
                normal = _normal_char(text[i])
                chars.append(normal)
                origin.extend([i] * len(normal))
            pos = m.end()
        chars.append(text[pos:])
        origin.extend(range(pos, len(text)))
        view = "".join(chars)
        if join_lines and "\n" in view:
            kept: list[str] = []
            kept_origin: list[int] = []
            pos = 0
            for m in _BREAK_RE.finditer(view):
                if _joins(view, m.start(), m.end()):
                    kept.append(view[pos : m.start()])
                    kept_origin.extend(origin[pos : m.start()])
                    pos = m.end()
            if pos:
                kept.append(view[pos:])
                kept_origin.extend(origin[pos:])
                view, origin = "".join(kept), kept_origin
        if view != text:
            self.text, self._origin = view, origin

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original text's span for the view's [start, end)."""
        if self._origin is None:
            return start, end
        return self._origin[start], self._origin[end - 1] + 1
