"""Make model output safe to post in Slack: no broadcast pings, no links the sources lacked.

The model read untrusted text, so its output is untrusted too. One pass over Slack entities
(`<…>`), bare URLs and plain `@channel`-style words rewrites them; a final pass guarantees the
property the tests check: no `<!…>` special mention and no `@channel`/`@here`/`@everyone`
survives, whatever the input.

A bare domain is any domain-like token whose last labels are a public suffix (`login-acme.zip`,
`acme-sso.click`, `payroll.sh`, `evil.com/login`), judged by the Public Suffix List snapshot
that `tldextract` bundles: never downloaded (no suffix list URLs) and never cached to disk, so
sanitising makes no network call and writes no file. `report.pdf`, `v1.2.3` and `e.g.` end in no
public suffix and stay. A file name whose extension is also a TLD (`deploy.sh`, `app.py`) is a
link to Slack too, so it is removed unless the sources hold it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from urllib.parse import urlsplit

import tldextract

from app.slack.mrkdwn import escape

LINK_REMOVED = "[link removed]"
BROADCASTS = ("channel", "here", "everyone")

_ENTITY_RE = re.compile(r"<([^<>\n]*)>")
# "ana@here.com" is an address, not a ping: a broadcast starts a word
_BROADCAST_RE = re.compile(r"(?<!\w)[@＠]+(?=(?:channel|here|everyone)\b)", re.I)
_USER_ID_RE = re.compile(r"[UW][A-Z0-9]{2,}")
_CHANNEL_RE = re.compile(r"#[CGD][A-Z0-9]{2,}(?:\|[^<>]*)?")
_BARE_URL_RE = re.compile(
    r"(?:https?|ftp)://[^\s<>|]+"
    r"|(?<![\w@.-])(?:"
    r"www\.[^\s<>|]+"
    # a domain-like token (labels of letters, digits and hyphens; the last one starts with a
    # letter); `_is_domain` decides by the public-suffix list whether it is one
    r"|(?P<host>(?:[^\W_](?:[^\W_]|-)*\.)+[^\W\d_](?:[^\W_]|-)*)(?::\d{1,5})?"
    r"(?:/[^\s<>|]*)?(?![\w@-])"
    r")",
)
_SUFFIXES = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)
_TRAILING_PUNCT = ".,;:!?)]}'\""

UserResolver = Callable[[str], str | None]


def normalize_link(url: str) -> str:
    """Comparable form of a URL: no scheme, no `www.`, lower-case host, no trailing slash."""
    url = url.strip()
    if url.lower().startswith("mailto:"):
        return url.lower()
    try:
        parts = urlsplit(url if "://" in url else f"//{url}")
    except ValueError:  # e.g. a host that is invalid under NFKC: compare it as text
        return url.lower()
    host = parts.netloc.lower().removeprefix("www.")
    rest = parts.path.rstrip("/") + (f"?{parts.query}" if parts.query else "")
    return host + rest + (f"#{parts.fragment}" if parts.fragment else "")


def _is_link(match: re.Match[str]) -> bool:
    """A URL with a scheme or `www.`, or a domain-like token ending in a public suffix."""
    host = match.group("host")
    if host is None:
        return True
    parts = _SUFFIXES(host.lower())
    return bool(parts.suffix and parts.domain)


def _strip_at(label: str) -> str:
    return label.lstrip("@＠").strip()


def _plain(text: str, allowed: frozenset[str]) -> str:
    """Rules for text outside entities: bare URLs and @broadcast words."""

    def bare_url(match: re.Match[str]) -> str:
        url = match.group()
        if not _is_link(match):
            return url
        core = url.rstrip(_TRAILING_PUNCT)
        tail = url[len(core) :]
        return url if normalize_link(core) in allowed else LINK_REMOVED + tail

    return _BROADCAST_RE.sub("", _BARE_URL_RE.sub(bare_url, text))


def _special(inner: str, allowed: frozenset[str]) -> str:
    """`<!…>`: broadcasts become their bare word, group pings their name, dates their text."""
    command, _, label = inner[1:].partition("|")
    keyword = command.split("^", 1)[0].lower()
    if keyword in BROADCASTS or keyword == "group":
        return "channel" if keyword == "group" else keyword
    if keyword == "subteam":
        return _plain(_strip_at(label), allowed) or "a user group"
    return _plain(label, allowed)


def _user(inner: str, allowed: frozenset[str], resolve_user: UserResolver | None) -> str:
    user_id, _, label = inner[1:].partition("|")
    if not _USER_ID_RE.fullmatch(user_id):
        return _plain(_strip_at(label) or user_id, allowed)
    if resolve_user is None:
        return f"<@{user_id}>"  # the label, if any, is untrusted display text: drop it
    name = resolve_user(user_id)  # a name as Slack holds it: text, never markup
    return _plain(escape(name) if name else _strip_at(label) or user_id, allowed)


def _link(inner: str, allowed: frozenset[str]) -> str:
    url, _, label = inner.partition("|")
    label = _plain(label, allowed)
    if normalize_link(url) in allowed:
        return f"<{url}|{label}>" if label else f"<{url}>"
    if label and normalize_link(label) != normalize_link(url):
        return f"{label} {LINK_REMOVED}"
    return LINK_REMOVED


def _entity(
    match: re.Match[str], allowed: frozenset[str], resolve_user: UserResolver | None
) -> str:
    inner = match.group(1)
    if inner.startswith("!"):
        return _special(inner, allowed)
    if inner.startswith("@"):
        return _user(inner, allowed, resolve_user)
    if _CHANNEL_RE.fullmatch(inner):
        return match.group()  # channel links notify nobody
    if ":" in inner.partition("|")[0] or "." in inner.partition("|")[0]:
        return _link(inner, allowed)
    return "&lt;" + _plain(inner, allowed) + "&gt;"  # not an entity: show it literally


def _final_guard(text: str) -> str:
    # Rewrites above can splice an "@" onto a bare word ("@<!here>" -> "@here"); remove any
    # broadcast that resulted, then defuse any special-mention opener left anywhere.
    previous = None
    while previous != text:
        previous, text = text, _BROADCAST_RE.sub("", text)
    return text.replace("<!", "&lt;!")


def sanitize_output(
    text: str,
    allowed_links: Collection[str],
    resolve_user: UserResolver | None = None,
) -> str:
    """Neutralise pings and unknown links in model output before it is shown or posted.

    `allowed_links` are the URLs found in the source messages (compared without scheme, `www.`
    and trailing slash). With `resolve_user` (user id -> display name), user mentions become
    plain names; without it they stay `<@U…>`.
    """
    allowed = frozenset(normalize_link(u) for u in allowed_links)
    pieces: list[str] = []
    pos = 0
    for match in _ENTITY_RE.finditer(text):
        pieces.append(_plain(text[pos : match.start()], allowed))
        pieces.append(_entity(match, allowed, resolve_user))
        pos = match.end()
    pieces.append(_plain(text[pos:], allowed))
    return _final_guard("".join(pieces))


def links_in(texts: Collection[str]) -> set[str]:
    """URLs present in source texts (Slack `<url|…>` targets and bare URLs): `allowed_links`."""
    found: set[str] = set()
    for text in texts:
        for match in _ENTITY_RE.finditer(text):
            target = match.group(1).partition("|")[0]
            if target and target[0] not in "!@#" and (":" in target or "." in target):
                found.add(target)
        for match in _BARE_URL_RE.finditer(text):
            if _is_link(match):
                found.add(match.group().rstrip(_TRAILING_PUNCT))
    return found
