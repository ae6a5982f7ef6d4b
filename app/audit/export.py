"""Audit export (JSONL, CSV) and the `steward audit verify|export` entry points.

Both formats stream: events are read a page at a time and written as they arrive, so memory stays
flat whatever the size of the log. JSONL lines are the events exactly as stored (hash included),
so an export can be checked against the chain; CSV has a fixed column list with nested fields
(sources, redactions, extra) as JSON strings, and text that a spreadsheet would run as a formula
(an edited draft `=cmd|' /C calc'!A0`) neutralised by OWASP's rule (see `csv_cell`).
"""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from collections.abc import Callable
from typing import IO, Any

import redis
import redis.asyncio as aioredis

from app.audit.event import AuditEvent
from app.audit.log import AuditLog
from app.audit.query import AuditFilters

CSV_COLUMNS: tuple[str, ...] = tuple(AuditEvent.model_fields)
FORMATS = ("jsonl", "csv")
PROGRESS_EVERY = 1000

Progress = Callable[[int], None]  # called with the number of events written so far


async def write_jsonl(
    log: AuditLog,
    out: IO[str],
    filters: AuditFilters | None = None,
    progress: Progress | None = None,
) -> int:
    """Write matching events, one stored JSON object per line; returns how many."""
    count = 0
    async for text, _ in log.export_stored(filters):
        out.write(text + "\n")
        count += 1
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
    return count


async def write_csv(
    log: AuditLog,
    out: IO[str],
    filters: AuditFilters | None = None,
    progress: Progress | None = None,
) -> int:
    """Write matching events as CSV with a header of CSV_COLUMNS; returns how many."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    async for _, data in log.export_stored(filters):
        writer.writerow([csv_cell(data.get(column)) for column in CSV_COLUMNS])
        count += 1
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
    return count


# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """None is an empty cell; lists and dicts are compact JSON so they survive a round trip.

    Text starting with `= + - @`, a tab or a carriage return gets a leading `'` (OWASP's CSV
    injection rule), so a spreadsheet shows it instead of running it; numbers are left alone
    (`-0.5` is a number, not a formula). JSONL keeps every value exactly as stored."""
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _StderrProgress:
    """One self-rewriting stderr line; the CLI asks for it only when stderr is a terminal."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.shown = False

    def __call__(self, count: int) -> None:
        self.stream.write(f"\rexported {count:,} events")
        self.stream.flush()
        self.shown = True

    def finish(self, count: int) -> None:
        if self.shown or count:
            self.stream.write(f"\rexported {count:,} events\n")
            self.stream.flush()


def cli_verify(redis_url: str) -> int:
    """`steward audit verify`: 0 when the chain is intact, 1 naming the first bad event."""
    try:
        result = asyncio.run(_verify(redis_url))
    except redis.RedisError as exc:
        return redis_failure(exc)
    if result.ok and result.empty:  # a fresh store, or the wrong REDIS_URL / STEWARD_DATA_DIR
        print(
            "no audit log: this store holds no audit events. Check that REDIS_URL (or "
            "STEWARD_DATA_DIR) points at the deployment's storage.",
            file=sys.stderr,
        )
        return 1
    if result.ok:
        print(f"audit chain intact: {result.checked} events")
        return 0
    print(f"audit chain broken at event {result.first_bad}: {result.problem}")
    return 1


async def _verify(redis_url: str) -> Any:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return await AuditLog(client).verify()
    finally:
        await client.aclose()


def cli_export(
    redis_url: str, fmt: str, out: IO[str], *, progress: bool = False, **filters: str | None
) -> int:
    """`steward audit export`: streams events to `out`; 0 on success, 2 on bad input/Redis."""
    if fmt not in FORMATS:
        print(f"unknown export format {fmt!r}: use jsonl or csv", file=sys.stderr)
        return 2
    try:
        chosen = AuditFilters.build(**filters)  # since, until, user, channel, use_case, status
    except ValueError:
        print("--since/--until must be a date (2024-05-01) or ISO datetime", file=sys.stderr)
        return 2
    bar = _StderrProgress(sys.stderr) if progress else None
    try:
        count = asyncio.run(_export(redis_url, fmt, out, chosen, bar))
    except redis.RedisError as exc:
        return redis_failure(exc)
    out.flush()
    if bar is not None:
        bar.finish(count)
    return 0


async def _export(
    redis_url: str, fmt: str, out: IO[str], filters: AuditFilters, bar: Progress | None
) -> int:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        writer = write_jsonl if fmt == "jsonl" else write_csv
        return await writer(AuditLog(client), out, filters, bar)
    finally:
        await client.aclose()


def redis_failure(exc: Exception) -> int:
    # The URL may hold a password, so it is never echoed; only the kind of failure.
    print(
        f"cannot read the audit log from Redis ({type(exc).__name__}): check REDIS_URL",
        file=sys.stderr,
    )
    return 2
