"""What `/steward request` was asked: `<use-case> [who] [how long] <purpose…>`.

    /steward request draft to draft the weekly release notes
    /steward request draft @legal-team for 30 days contract review
    /steward request summarize --group managers --for 2w the launch retro

- who: a `@user-group` handle, or `--group <name>` (a user-group handle or a policy group):
  the grant is then for those people only, in this channel; absent, for the channel;
- how long: `for 30 days` (minutes, hours, days or weeks) or `--for 30d` (any duration of
  app/governance/durations.py); absent, until revoked. An admin may also grant for a set time.
Both come before the purpose, in either order; the first other word starts the purpose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from app.governance.durations import EXAMPLES, format_duration, parse_duration
from app.governance.policy_schema import HANDLE, NAME

_WORDS = {"minute": "m", "hour": "h", "day": "d", "week": "w"}
_SPOKEN = re.compile(r"(\d+)\s+(minute|hour|day|week)s?\b", re.IGNORECASE)
MAX_GRANT = timedelta(days=366)  # a grant for longer is a policy change, not a request


@dataclass(frozen=True)
class RequestText:
    use_case: str
    purpose: str
    audience: str | None = None  # "@legal-team" or a policy group name
    duration: timedelta | None = None
    problem: str | None = None  # for the person, when the options cannot be read


def _duration(text: str) -> timedelta | None:
    match = _SPOKEN.fullmatch(text.strip())
    if match:
        return parse_duration(f"{match[1]}{_WORDS[match[2].lower()]}")
    try:
        return parse_duration(text.strip())
    except ValueError:
        return None


def parse(text: str) -> RequestText:
    words = text.split()
    use_case = words[0].lower() if words else ""
    rest = words[1:]
    audience: str | None = None
    duration: timedelta | None = None

    def fail(problem: str) -> RequestText:
        return RequestText(use_case, "", audience, duration, problem)

    while rest:
        word = rest[0]
        if word.startswith("@") or word == "--group":
            if audience is not None:
                return fail("Ask for one group at a time.")
            who = word if word.startswith("@") else (rest[1] if len(rest) > 1 else "")
            if not (HANDLE.fullmatch(who.lower()) or NAME.fullmatch(who)):
                return fail(f"`{who or '--group'}` is not a user group (`@legal-team`) or group.")
            audience = who.lower() if who.startswith("@") else who
            rest = rest[1:] if word.startswith("@") else rest[2:]
        elif word == "--for" or word.lower() == "for":
            one = _duration(rest[1]) if len(rest) > 1 else None
            two = _duration(" ".join(rest[1:3])) if word != "--for" and len(rest) > 2 else None
            found, used = (one, 2) if one else (two, 3)
            if found is None:
                if word == "--for":
                    return fail(f"`--for` takes a duration, e.g. {EXAMPLES}.")
                break  # "for the launch retro": the purpose
            if duration is not None:
                return fail("Say how long only once.")
            if not timedelta(0) < found <= MAX_GRANT:
                return fail(f"A grant lasts from a minute to {MAX_GRANT.days} days.")
            duration, rest = found, rest[used:]
        else:
            break
    return RequestText(use_case, " ".join(rest), audience, duration)


def shown(duration: timedelta) -> str:
    """`30 days`, `2 weeks`, `1d12h`: how long a grant lasts, in words where they are exact."""
    seconds = int(duration.total_seconds())
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0 and seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return format_duration(duration)
