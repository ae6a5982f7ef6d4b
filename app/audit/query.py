"""Which events to read: `AuditFilters`, from command-line style values to a stream window."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from app.audit.event import format_at

CLOCK_SKEW = timedelta(minutes=10)


def parse_when(value: str | date | datetime | None, *, end: bool = False) -> datetime | None:
    """A filter bound from a date or ISO datetime; a bare date as an `end` covers that whole day."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = _parse_text_when(value)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    start = datetime.combine(value, time.min, tzinfo=UTC)
    return start + timedelta(days=1) if end else start


def _parse_text_when(text: str) -> date | datetime:
    text = text.strip()
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text)


def ms(moment: datetime) -> int:
    """A moment as a stream id's time part (milliseconds since the epoch)."""
    return max(0, int(moment.timestamp() * 1000))


@dataclass(frozen=True)
class AuditFilters:
    """Which events to export or list. `since` is inclusive, `until` exclusive."""

    since: datetime | None = None
    until: datetime | None = None
    user: str | None = None
    channel: str | None = None
    use_case: str | None = None
    status: str | None = None
    interaction_id: str | None = None
    event: str | None = None

    @classmethod
    def build(
        cls,
        *,
        since: str | date | datetime | None = None,
        until: str | date | datetime | None = None,
        user: str | None = None,
        channel: str | None = None,
        use_case: str | None = None,
        status: str | None = None,
        interaction_id: str | None = None,
        event: str | None = None,
    ) -> AuditFilters:
        """From command-line style values; raises ValueError on a malformed date."""
        return cls(
            since=parse_when(since),
            until=parse_when(until, end=True),
            user=user or None,
            channel=channel or None,
            use_case=use_case or None,
            status=status or None,
            interaction_id=interaction_id or None,
            event=event or None,
        )

    def matches(self, data: Mapping[str, Any]) -> bool:
        at = data.get("at") or ""
        if self.since is not None and at < format_at(self.since):
            return False
        if self.until is not None and at >= format_at(self.until):
            return False
        wanted = (
            ("actor_id", self.user),
            ("channel_id", self.channel),
            ("use_case", self.use_case),
            ("approval_status", self.status),
            ("interaction_id", self.interaction_id),
            ("event", self.event),
        )
        return all(value is None or data.get(key) == value for key, value in wanted)

    def stream_bounds(self) -> tuple[str, str]:
        """An XRANGE window that surely holds every match; matches() applies the exact bounds.

        A stream id's time is its event's `at`, or later when that writer's clock lagged behind
        the previous event's, so only the upper bound needs widening by CLOCK_SKEW.
        """
        low = "-" if self.since is None else str(ms(self.since))
        high = "+" if self.until is None else str(ms(self.until + CLOCK_SKEW))
        return low, high
