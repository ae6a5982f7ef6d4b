"""PII and secret redaction for text that is about to leave for a model.

Every detector is a plain function over the text that yields spans; `Redactor` resolves overlaps
(earlier detectors in `_DETECTORS` win), swaps each span for a numbered placeholder such as
`[EMAIL_1]`, and remembers the numbering so one thread's messages share it: the same address is
`[EMAIL_1]` in every message, which keeps the model's summary coherent.

Numeric detectors (cards, IBANs, national ids, phones) carry checksums or strict shapes because a
false positive mangles an order number or a Slack timestamp; they also skip URLs, where long
digit runs are ids (Zoom rooms, permalinks), while token and e-mail detectors still look inside
URLs because a secret in a query string is still a secret.

Detection runs on a normalised view of the text (app/model/normal_view.py: NFKC, no zero-width
characters, a value wrapped across lines joined), whose spans map back to the original, so the
text around a placeholder is left exactly as written.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from app.model.normal_view import NormalView
from app.slack.messages import SourceMessage

# kind -> placeholder label. Order is priority: the first detector to claim a span wins.
LABELS: dict[str, str] = {
    "private_key": "PRIVATE_KEY",
    "slack_token": "SLACK_TOKEN",
    "openai_key": "OPENAI_KEY",
    "stripe_key": "STRIPE_KEY",
    "google_key": "GOOGLE_KEY",
    "jwt": "JWT",
    "aws_key": "AWS_KEY",
    "github_token": "GITHUB_TOKEN",
    "secret": "SECRET",  # the value of `password: …`, `secret=…`, `api_key=…`
    "email": "EMAIL",
    "iban": "IBAN",
    "national_id": "NATIONAL_ID",
    "card": "CARD",
    "phone": "PHONE",
}
_NUMERIC_KINDS = frozenset({"iban", "national_id", "card", "phone"})
# Redaction rescans its own output until nothing changes (a replacement can, rarely, expose a
# new match at its edges); this bounds that loop.
_MAX_PASSES = 4


@dataclass(frozen=True)
class Redaction:
    """Redacted text and how many values of each kind were replaced (occurrences, not distinct)."""

    text: str
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class _Hit:
    start: int
    end: int
    kind: str
    key: str  # normalised value: equal keys share one placeholder


Finder = Callable[[str], Iterator[tuple[int, int, str]]]

# --- secrets ---------------------------------------------------------------------------------

_PEM_RE = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
    # a whole block, or (a truncated paste) everything key-like up to where the block stops
    r"(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s:,.-]*)",
    re.S,
)
_SLACK_RE = re.compile(
    # xoxc-/xoxd- are browser session tokens (xoxd- values are URL-encoded, hence `%`)
    r"(?<![A-Za-z0-9])(?:(?:xoxe\.)?xox[abposrecd]-[A-Za-z0-9%-]{8,}|xapp-\d-[A-Za-z0-9-]{8,})"
    r"|(?<=hooks\.slack\.com/)(?:services|workflows|triggers)/[A-Za-z0-9/_-]{8,}"
)
_OPENAI_RE = re.compile(
    # real keys always carry digits; requiring one keeps "sk-" prose such as sk-learn out
    r"(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-)?(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{20,}"
)
_STRIPE_RE = re.compile(r"(?<![A-Za-z0-9_])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}")
_GOOGLE_RE = re.compile(r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])")
_JWT_RE = re.compile(
    r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"
)
_SECRET_PAIR_RE = re.compile(
    # the value after a secret's name: `password: hunter2`, `"client_secret": "…"`, `pwd=…`;
    # never a placeholder an earlier pass left (`secret=[AWS_KEY_1]`)
    r"(?i:(?<![A-Za-z0-9])(?:password|passwd|passphrase|pwd|secret|client_secret|api[_-]?key"
    r"|access_token|auth_token))[\"']?\s*[:=]\s*[\"']?((?!\[)[^\s\"',;]{3,})"
)
_SECRET_PAIR_GATE = re.compile(r"(?i)pass|pwd|secret|api.?key|_token").search
_AWS_ID_RE = re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])")
_AWS_SECRET_RE = re.compile(
    r"(?i:aws_?secret(?:_?access)?(?:_?key)?|secret_?access_?key)[\"']?\s*[:=]\s*[\"']?"
    r"([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
)
# An unlabelled AWS secret access key: 40 base64 characters, mixed case, within a line or two of
# its key id.
_AWS_BARE_SECRET_RE = re.compile(
    r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+=]*[a-z])(?=[A-Za-z0-9/+=]*[A-Z])"
    r"(?=[A-Za-z0-9/+=]*[0-9/+])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"
)
_AWS_NEAR = 120  # characters either side of a key id searched for its secret
_GITHUB_RE = re.compile(
    r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{20,})"
)


def _regex_finder(pattern: re.Pattern[str], group: int = 0) -> Finder:
    def find(text: str) -> Iterator[tuple[int, int, str]]:
        for m in pattern.finditer(text):
            yield m.start(group), m.end(group), m.group(group)

    return find


def _find_aws(text: str) -> Iterator[tuple[int, int, str]]:
    for m in _AWS_ID_RE.finditer(text):
        yield m.start(), m.end(), m.group()
        lo = max(0, m.start() - _AWS_NEAR)
        for near in _AWS_BARE_SECRET_RE.finditer(text, lo, min(len(text), m.end() + _AWS_NEAR)):
            yield near.start(), near.end(), near.group()
    yield from _regex_finder(_AWS_SECRET_RE, 1)(text)


# --- e-mail ----------------------------------------------------------------------------------

_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}"
    r"(?![A-Za-z0-9-])"
)


def _find_email(text: str) -> Iterator[tuple[int, int, str]]:
    for m in _EMAIL_RE.finditer(text):
        yield m.start(), m.end(), m.group().lower()


# --- IBAN ------------------------------------------------------------------------------------

_IBAN_RE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])")
# Lengths for common countries; others fall back to the 15..34 range of the standard.
_IBAN_LENGTHS = {
    "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20,
    "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26,
    "IT": 27, "LT": 20, "LU": 20, "LV": 21, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25,
    "RO": 24, "SE": 24, "SI": 19, "SK": 24, "TR": 26, "AE": 23, "SA": 24, "IL": 23, "BR": 29,
}  # fmt: skip


def iban_is_valid(candidate: str) -> bool:
    """ISO 13616 check: country length and mod-97 == 1 (spaces and case ignored).

    Written in lower case (`de89 3704 …`) it must also be a listed country's exact length and
    mostly digits, because lower-case prose matches the shape far more often than capitals."""
    compact = candidate.replace(" ", "")
    if not compact.isupper():
        numerals = sum(ch.isdigit() for ch in compact)
        if compact[:2].upper() not in _IBAN_LENGTHS or numerals < 0.6 * len(compact):
            return False
        compact = compact.upper()
    expected = _IBAN_LENGTHS.get(compact[:2])
    if expected is not None and len(compact) != expected:
        return False
    if not 15 <= len(compact) <= 34 or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def _find_iban(text: str) -> Iterator[tuple[int, int, str]]:
    for m in _IBAN_RE.finditer(text):
        # The shape regex may swallow a following upper-case word ("… 00 TODO"); retry shorter
        # prefixes that end where a space did.
        span = m.group()
        ends = [len(span)] + [i for i in range(len(span) - 1, 14, -1) if span[i] == " "]
        for end in ends:
            if iban_is_valid(span[:end]):
                yield m.start(), m.start() + end, span[:end].replace(" ", "").upper()
                break


# --- payment cards ---------------------------------------------------------------------------

# digit groups joined by one space or hyphen, or by a line break (a card split across lines);
# never a run glued to a `/` (the year of `12/05/2024 2024 2024 12/05/2024` is not a card)
_DIGIT_RUN_RE = re.compile(r"(?<![\w./])\d+(?:(?:[ -]|[ \t]*\r?\n[ \t]*)\d+)*(?!\w|\.\d|/\d)")


def luhn_is_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _find_card(text: str) -> Iterator[tuple[int, int, str]]:
    for m in _DIGIT_RUN_RE.finditer(text):
        run = m.group()
        if len(run) - run.count(" ") - run.count("-") - run.count("\n") < 13:
            continue  # cheap exit: most digit runs are short
        groups = [g.span() for g in re.finditer(r"\d+", run)]
        i = 0
        while i < len(groups):
            end = _longest_card_from(run, groups, i)
            if end is None:
                i += 1
                continue
            digits = re.sub(r"\D", "", run[groups[i][0] : groups[end][1]])
            yield m.start() + groups[i][0], m.start() + groups[end][1], digits
            i = end + 1


def _longest_card_from(run: str, groups: list[tuple[int, int]], i: int) -> int | None:
    """Index of the last digit group of the longest card number starting at group `i`.

    Printed cards use one separator style and groups of 3+ digits (4-4-4-4, 4-6-5), except a
    short last group (4-4-4-1 for 13 digits); a line break may stand for any separator. Issuer
    ranges start 2..6, which also keeps epoch-millisecond stamps (1…) out.
    """
    if run[groups[i][0]] not in "23456":
        return None
    best, digits, sep = None, "", ""
    for j in range(i, len(groups)):
        if j > i:
            if groups[j - 1][1] - groups[j - 1][0] < 3:
                break
            gap = run[groups[j - 1][1] : groups[j][0]]
            if "\n" not in gap:  # a line break fits any style
                if sep and gap != sep:
                    break
                sep = gap
        digits += run[groups[j][0] : groups[j][1]]
        if len(digits) > 19:
            break
        if groups[j][1] - groups[j][0] < 3 and _continued(run, groups, j):
            continue  # a short group ends a card: `2024 12345 2024-05-12` (a date) is not one
        if len(digits) >= 13 and luhn_is_valid(digits):
            best = j
    return best


def _continued(run: str, groups: list[tuple[int, int]], j: int) -> bool:
    """Group `j` is followed by another on the same line (`05` in `2024-05-12`)."""
    return j + 1 < len(groups) and "\n" not in run[groups[j][1] : groups[j + 1][0]]


# --- national ids ----------------------------------------------------------------------------

# 219-09-9999, 219 09 9999 or 219099999 (one separator style)
_SSN_RE = re.compile(
    r"(?<![\w-])(?<!\d[ .])(?!000|666|9\d\d)\d{3}([- ]?)(?!00)\d{2}\1(?!0000)\d{4}(?![\w-]|[ .]\d)"
)
_UK_NINO_RE = re.compile(
    r"(?<![A-Za-z0-9])(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r" ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])"
)
_ES_ID_RE = re.compile(r"(?<![A-Za-z0-9])([XYZ]\d{7}|\d{8})-?([A-Z])(?![A-Za-z0-9])")
_ES_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_FR_NIR_RE = re.compile(
    r"(?<![\w.])([12]) ?(\d{2}) ?(\d{2}) ?(\d{2}|2[AB]) ?(\d{3}) ?(\d{3}) ?(\d{2})(?![\w]|\.\d)"
)


def _find_national_id(text: str) -> Iterator[tuple[int, int, str]]:
    for pattern in (_SSN_RE, _UK_NINO_RE):
        for m in pattern.finditer(text):
            yield m.start(), m.end(), re.sub(r"[ -]", "", m.group())
    for m in _ES_ID_RE.finditer(text):  # Spanish DNI / NIE: check letter
        number = m.group(1).translate(str.maketrans("XYZ", "012"))
        if _ES_LETTERS[int(number) % 23] == m.group(2):
            yield m.start(), m.end(), m.group(1) + m.group(2)
    for m in _FR_NIR_RE.finditer(text):  # French NIR: 97 - (n mod 97) key
        body = "".join(m.groups()[:6])
        numeric = body.replace("2A", "19").replace("2B", "18")
        if 97 - int(numeric) % 97 == int(m.group(7)):
            yield m.start(), m.end(), body + m.group(7)


# --- phones ----------------------------------------------------------------------------------

_PHONE_INTL_RE = re.compile(r"(?<![\w+])\+\d[\d ().-]{5,22}\d(?!\w|[.:/-]\d)")
_PHONE_NANP_RE = re.compile(
    r"(?<![\w+.-])(?<!\d[ .-])(?:1[ .-])?(?:\([2-9]\d{2}\)[ .-]?|[2-9]\d{2}[ .-])"
    r"[2-9]\d{2}[ .-]\d{4}(?!\w|[ .:/-]\d)"
)
_PHONE_TRUNK_RE = re.compile(
    # national formats with a trunk 0: UK 020 7946 0958, 07700 900123, DE 030 12345678,
    # FR 06 12 34 56 78; never the tail of a longer grouped digit run (an IBAN, a card)
    r"(?<![\w+.-])(?<!\d[ .-])(?:(?:\(0[1-9]\d{0,3}\)|0[1-9]\d{0,3})[ -]?\d{3,4}[ -]?\d{3,4}"
    r"|0[1-9](?:[ .-]?\d{2}){4})(?!\w|[ .:/-]\d)"
)
# ten digits written together, 4155550199 (NANP area and exchange codes start 2-9)
_PHONE_BARE_RE = re.compile(r"(?<![\w+.-])(?<!\d[ .-])1?[2-9]\d{2}[2-9]\d{6}(?!\w|[ .:/-]\d)")
# doubled separators, empty parentheses, or an ISO date caught after a "+1" (a vote, not a phone)
_NOT_A_PHONE_RE = re.compile(r"[ .-]{2,}|\(\)|(?:19|20)\d\d-[01]\d-[0-3]\d")


def _intl_phone_ok(candidate: str) -> bool:
    if _NOT_A_PHONE_RE.search(candidate) or candidate.count("(") != candidate.count(")"):
        return False
    groups = [len(g) for g in re.findall(r"\d+", candidate)]
    if candidate.startswith(("+1 ", "+1-", "+1.", "+1(")):
        # "+1" is also a vote in Slack; after it, insist on the NANP shape 3-3-4 / 3-7 / 10
        return groups[1:] in ([3, 3, 4], [3, 7], [10])
    return 8 <= sum(groups) <= 15


def _find_phone(text: str) -> Iterator[tuple[int, int, str]]:
    for m in _PHONE_INTL_RE.finditer(text):
        if _intl_phone_ok(m.group()):
            yield m.start(), m.end(), "+" + re.sub(r"\D", "", m.group())
    for pattern in (_PHONE_NANP_RE, _PHONE_TRUNK_RE, _PHONE_BARE_RE):
        for m in pattern.finditer(text):
            digits = re.sub(r"\D", "", m.group())
            if 10 <= len(digits) <= 11:
                yield m.start(), m.end(), digits


def _has_any(*needles: str) -> Callable[[str, int], bool]:
    search = re.compile("|".join(re.escape(n) for n in needles)).search  # one C-level scan
    return lambda text, _digits: search(text) is not None


def _min_digits(n: int) -> Callable[[str, int], bool]:
    return lambda _text, digits: digits >= n


# kind -> (gate, finder). The gate is a cheap test (substring or digit count) that skips the
# regexes on the vast majority of messages, which carry none of these.
_DETECTORS: dict[str, tuple[Callable[[str, int], bool], Finder]] = {
    "private_key": (_has_any("PRIVATE KEY"), _regex_finder(_PEM_RE)),
    "slack_token": (_has_any("xox", "xapp-", "hooks.slack"), _regex_finder(_SLACK_RE)),
    "openai_key": (_has_any("sk-"), _regex_finder(_OPENAI_RE)),
    "stripe_key": (_has_any("k_live_", "k_test_"), _regex_finder(_STRIPE_RE)),
    "google_key": (_has_any("AIza"), _regex_finder(_GOOGLE_RE)),
    "jwt": (_has_any("eyJ"), _regex_finder(_JWT_RE)),
    "aws_key": (_has_any("AKIA", "ASIA", "ABIA", "ACCA", "ecret", "ECRET"), _find_aws),
    "github_token": (_has_any("gh", "github_pat_"), _regex_finder(_GITHUB_RE)),
    "secret": (
        lambda text, _d: _SECRET_PAIR_GATE(text) is not None,
        _regex_finder(_SECRET_PAIR_RE, 1),
    ),
    "email": (_has_any("@"), _find_email),
    "iban": (_min_digits(4), _find_iban),
    "national_id": (_min_digits(6), _find_national_id),
    "card": (_min_digits(13), _find_card),
    "phone": (_min_digits(8), _find_phone),
}
_ANY_DIGIT_RE = re.compile(r"\d")  # \d as the detectors see it, Unicode digits included


# The id part of Slack entities, never PII: <@U123>, <#C123|general>, <!subteam^S1|@x>. Labels
# after the bar are display text and are scanned like any other text.
_SLACK_ID_MARKUP_RE = re.compile(r"<[@#!][^<>\s|]*(?=[|>])")
# URL targets (bare, or the part of <url|label> before the bar).
_URL_RE = re.compile(r"(?:https?|ftp)://[^\s<>|]+")


def _overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < s_end and s_start < end for s_start, s_end in spans)


def _detect(view: NormalView) -> list[_Hit]:
    """Non-overlapping sensitive spans found in a view, as spans of the original text."""
    text = view.text
    id_markup = [m.span() for m in _SLACK_ID_MARKUP_RE.finditer(text)] if "<" in text else []
    urls = [m.span() for m in _URL_RE.finditer(text)] if "://" in text else []
    digits = len(_ANY_DIGIT_RE.findall(text))
    taken: list[tuple[int, int]] = []
    hits: list[_Hit] = []
    for kind, (gate, finder) in _DETECTORS.items():
        if not gate(text, digits):
            continue
        for start, end, key in finder(text):
            if start >= end or _overlaps(start, end, taken) or _overlaps(start, end, id_markup):
                continue
            if kind in _NUMERIC_KINDS and _overlaps(start, end, urls):
                continue
            taken.append((start, end))
            hits.append(_Hit(*view.span(start, end), kind, key))
    return hits


def find_sensitive(text: str) -> list[_Hit]:
    """All non-overlapping sensitive spans of `text`, in text order.

    Values are found in the normalised text first; then in a copy whose line breaks inside a
    token are removed, which adds what only that copy shows and lets a value that continues on
    the next line (a wrapped key) replace the shorter part of it found first."""
    plain = NormalView(text)
    hits = _detect(plain)
    if "\n" in text:
        joined = NormalView(text, join_lines=True)
        if joined.text != plain.text:
            for wider in _detect(joined):
                inside = [h for h in hits if h.start < wider.end and wider.start < h.end]
                if all(
                    h.kind == wider.kind and wider.start <= h.start and h.end <= wider.end
                    for h in inside
                ):
                    hits = [h for h in hits if h not in inside] + [wider]
    hits.sort(key=lambda h: h.start)
    return hits


class Redactor:
    """Redacts many texts with one numbering, e.g. all messages of a thread, and sums counts.

    Not thread-safe; use one per summarisation request.
    """

    def __init__(self) -> None:
        self._placeholders: dict[tuple[str, str], str] = {}
        self._next: Counter[str] = Counter()
        self._counts: Counter[str] = Counter()

    @property
    def counts(self) -> dict[str, int]:
        """Occurrences replaced so far, per kind (only kinds that occurred)."""
        return dict(self._counts)

    @property
    def total(self) -> int:
        return sum(self._counts.values())

    def redact(self, text: str) -> str:
        for _ in range(_MAX_PASSES):
            hits = find_sensitive(text)
            if not hits:
                break
            text = self._replace(text, hits)
        return text

    def redact_messages(self, messages: Iterable[SourceMessage]) -> list[SourceMessage]:
        """Copies of `messages` with redacted text, numbered in order.

        Redact a thread once, up front, then render and chunk the copies: renderers may run
        more than once per message (chunk truncation does), which must not recount redactions.
        Author names are kept (the summary needs them for owners) except for any e-mail, phone
        or other value in them: a display name such as `Ana (ana@acme.com)` goes to the model
        too.
        """
        return [
            replace(m, text=self.redact(m.text), user_name=self.redact(m.user_name))
            for m in messages
        ]

    def _placeholder(self, kind: str, key: str) -> str:
        existing = self._placeholders.get((kind, key))
        if existing is None:
            self._next[kind] += 1
            existing = f"[{LABELS[kind]}_{self._next[kind]}]"
            self._placeholders[(kind, key)] = existing
        return existing

    def _replace(self, text: str, hits: list[_Hit]) -> str:
        parts: list[str] = []
        pos = 0
        for hit in hits:
            parts.append(text[pos : hit.start])
            parts.append(self._placeholder(hit.kind, hit.key))
            self._counts[hit.kind] += 1
            pos = hit.end
        parts.append(text[pos:])
        return "".join(parts)


def redact(text: str) -> Redaction:
    """Redact one text on its own (numbering starts at 1)."""
    redactor = Redactor()
    out = redactor.redact(text)
    return Redaction(text=out, counts=redactor.counts)
