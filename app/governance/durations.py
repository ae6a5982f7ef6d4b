"""Human durations for the policy file: "90s", "30m", "4h", "2d", "1w", and compounds like "1h30m".

Only whole seconds and these five units: a policy reader should never have to wonder whether
"1M" means a minute or a month, so there is no month unit and units are lower-case only.
"""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS: dict[str, int] = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)([wdhms])")
_WHOLE = re.compile(r"(?:\d+[wdhms])+")

EXAMPLES = "'90s', '30m', '4h', '2d', '1w' or '1h30m'"


def parse_duration(text: str) -> timedelta:
    """Parse "4h" / "30m" / "1h30m" into a timedelta; ValueError with an example when malformed."""
    if not isinstance(text, str):
        raise ValueError(f"expected a duration like {EXAMPLES}, got {text!r}")
    cleaned = text.strip()
    if not _WHOLE.fullmatch(cleaned):
        raise ValueError(f"invalid duration {text!r}: use a number and a unit, e.g. {EXAMPLES}")
    seen: set[str] = set()
    seconds = 0
    for amount, unit in _PART.findall(cleaned):
        if unit in seen:  # "1h2h" is almost certainly a typo, not a sum
            raise ValueError(f"invalid duration {text!r}: unit '{unit}' appears twice")
        seen.add(unit)
        seconds += int(amount) * _UNITS[unit]
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The canonical spelling, largest units first: 5400s -> "1h30m"; zero -> "0s".

    parse_duration(format_duration(d)) == d for every non-negative whole-second d.
    """
    total = int(value.total_seconds())
    if total < 0 or timedelta(seconds=total) != value:
        raise ValueError(f"only non-negative whole-second durations can be formatted: {value!r}")
    if total == 0:
        return "0s"
    parts: list[str] = []
    for unit, size in _UNITS.items():
        amount, total = divmod(total, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)
