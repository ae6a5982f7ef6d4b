"""Sources, compactly: how an event records reading thousands of Slack messages in a few bytes.

An event that read at most INLINE messages lists every ts in `sources`, as PRODUCT.md describes.
One that read more (a 20,000-message summary) keeps in `sources` only the messages its output
cites (at most CITED), and describes the full list in `extra["sources_read"]`:

    {"count": 20000, "first": "<ts>", "last": "<ts>", "sha256": "<hex>"}

`sha256` is over the ts values in the order read, joined by "\\n", so an auditor who re-reads the
thread between `first` and `last` can check it was exactly those messages (`matches`); the
hash chain covers the record like any other field. The Why? view shows the count, the span
and the cited messages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from app.audit.event import AuditEvent

INLINE = 50  # messages listed one by one; more are described by a SourcesRead
CITED = 40  # cited messages kept in `sources` when the list is described


class SourcesRead(BaseModel):
    count: int
    first: str
    last: str
    sha256: str


def digest(read: Sequence[str]) -> SourcesRead:
    joined = "\n".join(read).encode("utf-8")
    return SourcesRead(
        count=len(read), first=read[0], last=read[-1], sha256=hashlib.sha256(joined).hexdigest()
    )


def compact(read: Sequence[str], cited: Iterable[str] = ()) -> tuple[list[str], dict[str, Any]]:
    """(`sources`, what to add to `extra`) for an event that read `read` and cites `cited`."""
    if len(read) <= INLINE:
        return list(read), {}
    wanted = set(cited)
    kept = [ts for ts in read if ts in wanted][:CITED]
    return kept, {"sources_read": digest(read).model_dump()}


def sources_read(event: AuditEvent) -> SourcesRead | None:
    """The description of the messages read, when the event stores one."""
    raw = event.extra.get("sources_read")
    if not isinstance(raw, dict):
        return None
    try:
        return SourcesRead.model_validate(raw)
    except ValidationError:
        return None


def read_count(event: AuditEvent) -> int:
    """How many messages the event read, listed or described."""
    described = sources_read(event)
    return described.count if described else len(event.sources)


def matches(event: AuditEvent, read: Sequence[str]) -> bool:
    """Whether `read` (ts values in order) is exactly what the event says it read."""
    described = sources_read(event)
    if described is None:
        return list(read) == event.sources
    return bool(read) and digest(read) == described


def bounded(event: AuditEvent) -> AuditEvent:
    """The event with an over-long `sources` described instead (the log applies this to every
    append, so no writer can store a list of thousands; `compact` also keeps the cited ones)."""
    if len(event.sources) <= INLINE:
        return event
    kept, extra = compact(event.sources)
    return event.model_copy(update={"sources": kept, "extra": event.extra | extra})
